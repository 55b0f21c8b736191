"""Finds every reject reason the package's code can produce, by reading its source (no import).

A reason is produced where a value reaches one of these places (a *site*):

- the first argument (or ``reason=``) of a call of ``reject``, ``Rejected`` or ``Problem`` (``code=``),
  and the second (or ``reason=``) of ``reject_row``;
- an assignment to ``X.reason``, ``X.default_reason`` (or a class's ``default_reason``) or
  ``X["filter_reason"]``;
- the second element of a ``return False, X`` in a method ``filter`` (a datatrove filter's drop);
- the default of ``getattr(X, "default_reason", Y)``.

The value is followed back through string constants, f-strings (``contaminated:{benchmark}`` becomes
``contaminated:<benchmark>``), conditional expressions, ``or``, local and module-level names, tuple
unpacking, the return values of the functions called and the arguments a parameter is given (by
name). A value that only passes a reason on (a parameter of a function that is itself a site,
``X.reason``, ``X.code``, a ``filter_reason`` read) is no new reason. Anything else is reported as
unresolved, so that a new way of producing a reason cannot slip past the registry test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The packages scanned (folders of the project).
PACKAGES = ("medvlt_data", "medvlt_train", "cli", "hub_cards")
#: Calls whose argument at the given position (or keyword) is a reason.
SITE_CALLS = {"reject": (0, "reason"), "Rejected": (0, "reason"), "Problem": (0, "code"),
              "reject_row": (1, "reason")}  # fmt: skip
#: Attributes that only pass on a reason produced elsewhere.
FORWARDING_ATTRIBUTES = {"reason", "code", "step_name"}


@dataclass
class Found:
    """What the scan found: reason -> the places (``file:line``) that produce it, and the sites whose
    value it could not follow."""

    reasons: dict[str, list[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)


def _func_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Module:
    def __init__(self, path: Path, root: Path):
        self.path = path
        self.label = path.relative_to(root).as_posix()
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.constants = {
            target.id: node.value.value
            for node in self.tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)
        }  # fmt: skip
        self.functions: dict[str, list[ast.FunctionDef]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.setdefault(node.name, []).append(node)

    def enclosing_functions(self, node: ast.AST) -> list[ast.FunctionDef]:
        found = []
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append(node)
        return found


class _Scanner:
    def __init__(self, modules: list[_Module]):
        self.modules = modules
        self.constants: dict[str, set[str]] = {}
        self.functions: dict[str, list[tuple[_Module, ast.FunctionDef]]] = {}
        for module in modules:
            for name, value in module.constants.items():
                self.constants.setdefault(name, set()).add(value)
            for name, defs in module.functions.items():
                self.functions.setdefault(name, []).extend((module, d) for d in defs)
        self.found = Found()

    # the values of an expression ------------------------------------------------------------------

    def values(
        self, module: _Module, node: ast.expr, position: int | None = None, depth: int = 0
    ) -> set[str]:
        """The reason strings ``node`` can evaluate to (element ``position`` of a tuple value)."""
        if depth > 8:
            return self._unresolved(module, node, "too deep")
        if position is not None and isinstance(node, (ast.Tuple, ast.List)):
            if position < len(node.elts):
                return self.values(module, node.elts[position], None, depth + 1)
            return set()
        if isinstance(node, ast.Constant):
            return {node.value} if isinstance(node.value, str) and node.value and position is None else set()
        if isinstance(node, ast.JoinedStr):
            return {"".join(p.value if isinstance(p, ast.Constant) else f"<{ast.unparse(p.value)}>"
                            for p in node.values)}  # fmt: skip
        if isinstance(node, ast.IfExp):
            return self.values(module, node.body, position, depth + 1) | self.values(
                module, node.orelse, position, depth + 1
            )
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.values(module, v, position, depth + 1) for v in node.values))
        if isinstance(node, ast.Attribute) and node.attr in FORWARDING_ATTRIBUTES:
            return set()
        if isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Constant) and node.slice.value == "filter_reason":
                return set()  # reading a reason set elsewhere
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
                return self.values(module, node.value, node.slice.value, depth + 1)
        if isinstance(node, ast.Call):
            name = _func_name(node.func)
            if isinstance(node.func, ast.Attribute) and name == "get" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and first.value == "filter_reason":
                    return set()
            if name == "getattr" and len(node.args) == 3:
                return self.values(module, node.args[2], position, depth + 1)
            if name in self.functions:
                return self._returns(module, name, position, depth)
        if isinstance(node, ast.Name):
            return self._name(module, node, position, depth)
        return self._unresolved(module, node, "not a constant, name or call this scan can follow")

    def _returns(self, module: _Module, name: str, position: int | None, depth: int) -> set[str]:
        defs = [(m, d) for m, d in self.functions[name] if m is module] or self.functions[name]
        values: set[str] = set()
        for owner, definition in defs:
            for node in ast.walk(definition):
                if isinstance(node, ast.Return) and node.value is not None:
                    values |= self._quiet_values(owner, node.value, position, depth + 1)
        return values

    def _quiet_values(self, module: _Module, node: ast.expr, position: int | None, depth: int) -> set[str]:
        """Like :meth:`values`, for a called function's return value, whose other kinds (a dict of
        options, a list) are no reasons: only its strings count."""
        if position is not None and isinstance(node, (ast.Tuple, ast.List)):
            return self.values(module, node, position, depth)
        if isinstance(node, (ast.Constant, ast.JoinedStr)):
            return self.values(module, node, position, depth)
        if isinstance(node, ast.IfExp):
            return self._quiet_values(module, node.body, position, depth) | self._quiet_values(
                module, node.orelse, position, depth
            )
        if isinstance(node, ast.Name) and node.id in module.constants:
            return self.values(module, node, position, depth)
        return set()

    def _name(self, module: _Module, node: ast.Name, position: int | None, depth: int) -> set[str]:
        for function in module.enclosing_functions(node):
            arguments = function.args
            parameters = [a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]
            values, assigned = self._assigned(module, function, node.id, position, depth)
            if assigned:
                return values
            if node.id in parameters:
                if function.name in SITE_CALLS:
                    return set()  # a site's own parameter: its callers are scanned
                return self._parameter(module, function, node, position, depth)
        if node.id in self.constants:
            return set(self.constants[node.id]) if position is None else set()
        return self._unresolved(module, node, f"the name {node.id!r} is not found")

    def _parameter(
        self, module: _Module, function: ast.FunctionDef, node: ast.Name, position: int | None, depth: int
    ) -> set[str]:
        """The values a parameter gets: its default and the arguments of every call of its function
        (for ``__init__`` / ``__new__``, of its class), found by name."""
        arguments = function.args
        positional = [a.arg for a in [*arguments.posonlyargs, *arguments.args]]
        callee = function.name
        if callee in ("__init__", "__new__"):
            parent = module.parents.get(function)
            callee = parent.name if isinstance(parent, ast.ClassDef) else callee
        if positional and positional[0] in ("self", "cls"):
            positional = positional[1:]
        values: set[str] = set()
        defaults = dict(zip(positional[::-1], arguments.defaults[::-1], strict=False))  # defaults are last
        defaults |= {a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if d}
        if node.id in defaults:
            values |= self.values(module, defaults[node.id], position, depth + 1)
        calls = 0
        for owner in self.modules:
            for call in ast.walk(owner.tree):
                if not isinstance(call, ast.Call) or _func_name(call.func) != callee:
                    continue
                calls += 1
                given = next((k.value for k in call.keywords if k.arg == node.id), None)
                index = positional.index(node.id) if node.id in positional else None
                if given is None and index is not None and index < len(call.args):
                    given = call.args[index]
                if given is not None:
                    values |= self.values(owner, given, position, depth + 1)
        if not calls and node.id not in defaults:
            return self._unresolved(module, node, f"a parameter of {function.name}() that no call gives")
        return values

    def _assigned(
        self, module: _Module, function: ast.FunctionDef, name: str, position: int | None, depth: int
    ) -> tuple[set[str], bool]:
        values: set[str] = set()
        assigned = False
        for statement in ast.walk(function):
            if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
                continue
            if module.enclosing_functions(statement)[:1] != [function]:
                continue
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == name:
                    assigned = True
                    values |= self.values(module, statement.value, position, depth + 1)
                elif isinstance(target, ast.Tuple):
                    for index, element in enumerate(target.elts):
                        if isinstance(element, ast.Name) and element.id == name:
                            assigned = True
                            values |= self.values(module, statement.value, index, depth + 1)
        return values, assigned

    def _unresolved(self, module: _Module, node: ast.expr, why: str) -> set[str]:
        self.found.unresolved.append(f"{module.label}:{node.lineno}: {ast.unparse(node)} ({why})")
        return set()

    # the sites ------------------------------------------------------------------------------------

    def sites(self, module: _Module):
        """(node, value expression) of every place of ``module`` that produces a reason."""
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call):
                name = _func_name(node.func)
                if name in SITE_CALLS:
                    index, keyword = SITE_CALLS[name]
                    value = next((k.value for k in node.keywords if k.arg == keyword), None)
                    if value is None and len(node.args) > index:
                        value = node.args[index]
                    if value is not None:
                        yield node, value
                if name == "getattr" and len(node.args) == 3:
                    attribute = node.args[1]
                    if isinstance(attribute, ast.Constant) and attribute.value == "default_reason":
                        yield node, node.args[2]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and target.attr in ("reason", "default_reason"):
                        yield node, node.value
                    if isinstance(target, ast.Name) and target.id == "default_reason":  # a class attribute
                        yield node, node.value
                    if (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                            and target.slice.value == "filter_reason"):  # fmt: skip
                        yield node, node.value
            elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                functions = module.enclosing_functions(node)
                first = node.value.elts[0] if node.value.elts else None
                filtering = functions and functions[0].name == "filter" and len(node.value.elts) == 2
                if filtering and isinstance(first, ast.Constant) and first.value is False:
                    yield node, node.value.elts[1]

    def scan(self) -> Found:
        for module in self.modules:
            for node, value in self.sites(module):
                for reason in self.values(module, value):
                    self.found.reasons.setdefault(reason, []).append(f"{module.label}:{node.lineno}")
        for places in self.found.reasons.values():
            places.sort(key=_place_order)
        self.found.unresolved.sort(key=_place_order)
        return self.found


def _place_order(place: str) -> tuple[str, int]:
    file, line, *_ = place.split(":")
    return file, int(line)


def package_files(root: Path = ROOT) -> list[Path]:
    """Every Python file of the scanned packages."""
    return sorted(p for package in PACKAGES for p in (root / package).rglob("*.py"))


def scan(files: list[Path] | None = None, root: Path = ROOT) -> Found:
    """The reasons produced by ``files`` (default: the whole package), places named relative to ``root``."""
    return _Scanner([_Module(p, root) for p in files or package_files(root)]).scan()
