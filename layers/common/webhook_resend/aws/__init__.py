"""Adapters to AWS: the DynamoDB store and its keys, the SQS publisher, redrive, the client factory.

Imports `models` and the root only; the domain folders reach boto3 through these adapters.
"""
