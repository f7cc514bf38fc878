"""moto's DynamoDB condition expressions lexed and parsed once per text, not once per use.

moto 5.2.5 (pinned) parses a condition expression (`ConditionExpressionParser.parse`) every
time it meets one: a TransactWriteItems parses each item's condition to validate the request,
again to check it, and a conditional Put a third time inside the table's `put_item`. The parse
is eight passes over the tokens (paths, functions, comparators, IN, BETWEEN, parentheses, NOT,
AND, OR, each matching productions token by token), after a lexer that tries up to six regular
expressions per token. The consumer's commit of 25 pairs is 26 conditional writes, 75 parses:
about 60 % of moto's CPU for that TransactWriteItems (in process), and in a local stack selecting
20,000 items while delivering, a sixth of moto's process (py-spy).

`install()` keeps two things, each up to `MAX_TEXTS` (then it starts afresh):

* for each text the lexer took, the kind and text of each token; a later lex of that text gets a
  deque of new nodes built from them, equal to what the lexer builds;
* for each text and ExpressionAttributeNames the parse took, the syntax tree it reached (after
  its redundant-parentheses check). A later parse of that text with those names looks up the
  request's own ExpressionAttributeValues, in the order the parse looks them up (a missing one
  raises the same KeyError, at the same point), builds a new tree with them in place (every node
  new: nothing the parse's callers get is shared with another request), records the names and
  values it used as the parse does, and makes the condition from it with moto's own
  `_make_op_condition`, as the parse ends.

The tree depends only on the text and the names: the passes look at tokens' kinds and texts, and
put into the tree the names' values (part of the key) and the values' dicts, which are taken
from the request at hand. A text the lexer or the parse refuses is not kept (it raises again,
as moto's own). `tests/unit/devstack/test_moto_dispatch.py` compares the DynamoDB scripts'
answers (conditional writes, transactions that pass and fail, conditions that name a missing
value or a reserved word, redundant parentheses) byte for byte with moto as released, and
`tests/unit/devstack/test_dynamodb_expressions.py` compares parses directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from moto.dynamodb.comparisons import ConditionExpressionParser

from devstack.patches import Layer, Patch

MAX_TEXTS = 4096  # distinct expressions kept (each cache); the project writes a few dozen
_Parser = ConditionExpressionParser
_Node = ConditionExpressionParser.Node
_LITERAL = ConditionExpressionParser.Kind.LITERAL
_VALUE = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE


class _Parsed(NamedTuple):
    tree: Any  # the syntax tree, its values' nodes holding None
    values: tuple[str, ...]  # the ExpressionAttributeValues looked up, in the parse's order
    names_found: list[str]  # what parse() adds to expr_attr_names_found
    values_found: list[str]  # and to expr_attr_values_found


_tokens: dict[str, tuple[tuple[str, str], ...]] = {}
_trees: dict[tuple[str, Any], _Parsed] = {}


def _patched_lex(original: Callable[[Any], deque[Any]]) -> Callable[[Any], deque[Any]]:
    def _lex_condition_expression(self: Any) -> deque[Any]:
        text = self.condition_expression
        if type(self) is not _Parser or type(text) is not str:
            return original(self)
        tokens = _tokens.get(text)
        if tokens is None:
            nodes = original(self)  # a text it refuses raises here, and is not kept
            if all(n.kind == _LITERAL and n.value == n.text and n.children == [] for n in nodes):
                if len(_tokens) >= MAX_TEXTS:
                    _tokens.clear()
                _tokens[text] = tuple((node.nonterminal, node.text) for node in nodes)
            return nodes
        # What _lex_one_node builds for each token: a literal whose value is its text, no children.
        return deque(_Node(nonterminal, _LITERAL, token, token, []) for nonterminal, token in tokens)

    return _lex_condition_expression


def _names_key(names: Any) -> Any:
    """The names as part of a key (their order does not matter to a lookup), or raises
    TypeError for names that are not a plain dict of strings."""
    if names is None:
        return None
    if type(names) is not dict or any(type(k) is not str or type(v) is not str for k, v in names.items()):
        raise TypeError
    return frozenset(names.items())


def _rebuild(node: Any, values: dict[str, Any] | None) -> Any:
    """A copy of the tree, every node new; the values' nodes holding `values[text]` (None when
    `values` is None)."""
    if node.kind == _VALUE:
        return _Node(node.nonterminal, _VALUE, node.text, None if values is None else values[node.text], [])
    return _Node(
        node.nonterminal, node.kind, node.text, node.value, [_rebuild(c, values) for c in node.children]
    )


def _parse_and_keep(self: Any, key: tuple[str, Any]) -> Any:
    """ConditionExpressionParser.parse (moto 5.2.5) step by step, keeping the tree it reaches."""
    nodes = self._lex_condition_expression()
    nodes = self._parse_paths(nodes)
    looked_up = tuple(dict.fromkeys(n.text for n in nodes if n.kind == _VALUE))  # in token order
    nodes = self._apply_functions(nodes)
    nodes = self._apply_comparator(nodes)
    nodes = self._apply_in(nodes)
    nodes = self._apply_between(nodes)
    nodes = self._apply_parens_and_booleans(nodes)
    node = nodes[0]
    self._assert_no_redundant_parentheses(node)
    names_found = self._find_literals(node)
    values_found = self._find_expr_attr_values(node)
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    op = self._make_op_condition(node)
    if len(_trees) >= MAX_TEXTS:
        _trees.clear()
    _trees[key] = _Parsed(_rebuild(node, None), looked_up, list(names_found), list(values_found))
    return op


def _patched_parse(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(self: Any) -> Any:
        text = self.condition_expression
        if type(self) is not _Parser or type(text) is not str or not text:
            return original(self)  # an empty one is OpDefault, without a parse
        try:
            key = (text, _names_key(self.expression_attribute_names))
        except TypeError:
            return original(self)
        parsed = _trees.get(key)
        if parsed is None:
            return _parse_and_keep(self, key)
        values = {name: self._lookup_expression_attribute_value(name) for name in parsed.values}
        node = _rebuild(parsed.tree, values)
        self.expr_attr_names_found.extend(parsed.names_found)
        self.expr_attr_values_found.extend(parsed.values_found)
        return self._make_op_condition(node)

    return parse


def _forget() -> None:
    _tokens.clear()
    _trees.clear()


# moto's condition-expression parser (5.2.5), patched in this process by `install()` (idempotent),
# put back by `uninstall()`, which forgets what was kept.
_layer = Layer(
    Patch(_Parser, "_lex_condition_expression", _patched_lex),
    Patch(_Parser, "parse", _patched_parse),
    on_uninstall=_forget,
)
install, installed, uninstall = _layer.install, _layer.installed, _layer.uninstall
