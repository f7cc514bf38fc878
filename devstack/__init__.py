"""The local stack: `template.yaml` brought up in-process on moto, with no Docker and no AWS account.

`cfn` reads the template and resolves its intrinsic functions, `resources` creates what moto can
host (tables, queues, secrets, schedule groups), `lambdas` loads and invokes the functions'
handlers, `gateway` emulates the HTTP API in front of them and `stack` ties it all together for
`make run` (`python -m devstack`) and the end-to-end tests.
"""
