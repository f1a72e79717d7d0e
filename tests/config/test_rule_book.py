"""One rule book per app: who sees and may change what is decided in the app's permissions.py,
never inline in a view, serializer or admin.

Each app's views, serializers and admin ask its permissions module (users.permissions,
tokens.permissions, feeds.permissions, tasks.permissions, projects.permissions); a rule written inline beside them is one the other
doors skip. This reads their source and names every inline decision it finds.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The apps whose doors are held to their rule book.
RULED_APPS = ("users", "tokens", "feeds", "api", "tasks", "projects")
DOORS = ("views.py", "serializers.py", "admin.py")
# Reading these is deciding who may do what.
PRIVILEGE_FLAGS = frozenset({"is_staff", "is_superuser"})
# A query narrowed to someone's rows: the visibility rule itself.
OWNER_FIELDS = frozenset({"user", "user_id", "person", "person_id", "owner", "owner_id"})
QUERY_METHODS = frozenset({"filter", "exclude", "get"})
# Viewsets without get_queryset and get_object: the object checks are skipped.
PLAIN_VIEWSETS = frozenset({"ViewSet", "ViewSetMixin"})


def _imported_from(tree: ast.Module, module: str) -> set[str]:
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


def _base_name(base: ast.expr) -> str:
    return base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""


def _names_called(node: ast.AST) -> set[str]:
    return {
        call.func.id
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
    }


def inline_rules(source: str, *, app: str, door: str) -> list[str]:
    """Each decision ``source`` (the ``door`` module of ``app``) makes itself instead of asking
    ``{app}.permissions``, as "line: what"."""
    tree = ast.parse(source)
    found: list[str] = []
    rule_book = _imported_from(tree, f"{app}.permissions")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PRIVILEGE_FLAGS:
            found.append(f"{node.lineno}: reads .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in PRIVILEGE_FLAGS
        ):
            found.append(f"{node.lineno}: reads {node.args[1].value} by getattr")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
        ):
            for keyword in node.keywords:
                if keyword.arg is not None and keyword.arg.split("__")[0] in OWNER_FIELDS:
                    found.append(f"{node.lineno}: narrows a query to its owner ({keyword.arg}=)")
        if (
            door == "views.py"
            and isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "objects"
            and node.attr != "none"  # the schema's empty queryset
        ):
            found.append(f"{node.lineno}: queries .objects.{node.attr} itself")
        if door == "views.py" and isinstance(node, ast.ClassDef):
            bases = {_base_name(base) for base in node.bases}
            if bases & PLAIN_VIEWSETS:
                found.append(
                    f"{node.lineno}: {node.name} is a plain ViewSet (no get_queryset, no get_object)"
                )
            elif any(base.endswith("ViewSet") for base in bases):
                methods = {item.name: item for item in node.body if isinstance(item, ast.FunctionDef)}
                get_queryset = methods.get("get_queryset")
                if get_queryset is None or not _names_called(get_queryset) & rule_book:
                    found.append(f"{node.lineno}: {node.name}.get_queryset does not ask {app}.permissions")
    return found


def test_no_door_writes_a_rule_inline() -> None:
    found = [
        f"{app}/{door}:{where}"
        for app in RULED_APPS
        for door in DOORS
        if (ROOT / app / door).exists()
        for where in inline_rules((ROOT / app / door).read_text(), app=app, door=door)
    ]

    assert found == []


def test_every_ruled_app_with_objects_has_a_rule_book() -> None:
    for app in RULED_APPS:
        if (ROOT / app / "models.py").exists():
            assert (ROOT / app / "permissions.py").exists(), app


# The check itself, on snippets: it passes what the apps do, and names each inline rule.

THROUGH_THE_RULE_BOOK = """
from rest_framework import viewsets
from feeds.models import Feed
from feeds.permissions import feeds_visible_to
from users.principal import caller_of

class FeedViewSet(viewsets.GenericViewSet):
    queryset = Feed.objects.none()

    def get_queryset(self):
        return feeds_visible_to(caller_of(self.request))

    def retrieve(self, request, pk):
        return self.get_object()
"""


def test_a_viewset_that_asks_its_rule_book_passes() -> None:
    assert inline_rules(THROUGH_THE_RULE_BOOK, app="feeds", door="views.py") == []


@pytest.mark.parametrize(
    ("door", "source", "named"),
    [
        (
            "views.py",
            THROUGH_THE_RULE_BOOK.replace(
                "return feeds_visible_to(caller_of(self.request))",
                "return Feed.objects.filter(user_id=self.request.user.pk)",
            ),
            ["narrows a query to its owner (user_id=)", "queries .objects.filter itself", "does not ask"],
        ),
        (
            "views.py",
            THROUGH_THE_RULE_BOOK.replace(
                "return self.get_object()", "return None if request.user.is_staff else self.get_object()"
            ),
            ["reads .is_staff"],
        ),
        (
            "views.py",
            THROUGH_THE_RULE_BOOK.replace("viewsets.GenericViewSet", "viewsets.ViewSet"),
            ["is a plain ViewSet"],
        ),
        (
            "views.py",
            THROUGH_THE_RULE_BOOK.replace(
                "return self.get_object()", "return Feed.objects.get(pk=pk, user=request.user)"
            ),
            ["narrows a query to its owner (user=)", "queries .objects.get itself"],
        ),
        (
            "serializers.py",
            "def validate(self, attrs):\n    if not getattr(self.context['request'].user, 'is_superuser'):\n"
            "        attrs.pop('is_superuser', None)\n",
            ["reads is_superuser by getattr"],
        ),
        (
            "admin.py",
            "class UserAdmin:\n    def has_change_permission(self, request, obj=None):\n"
            "        return not (obj and obj.is_superuser)\n",
            ["reads .is_superuser"],
        ),
        (
            "admin.py",
            "class FeedAdmin:\n    def get_queryset(self, request):\n"
            "        return super().get_queryset(request).exclude(user__is_superuser=True)\n",
            ["narrows a query to its owner (user__is_superuser=)"],
        ),
    ],
    ids=[
        "owner-filter",
        "staff-flag",
        "plain-viewset",
        "owner-get",
        "getattr-flag",
        "admin-flag",
        "admin-filter",
    ],
)
def test_an_inline_rule_is_named(door: str, source: str, named: list[str]) -> None:
    found = inline_rules(source, app="feeds", door=door)

    for what in named:
        assert any(what in where for where in found), (what, found)


def test_strings_naming_a_flag_are_not_rules() -> None:
    # A serializer lists its fields by name: that decides nothing.
    source = 'class Meta:\n    fields = ["is_staff", "is_superuser"]\n    extra_kwargs = {"is_staff": {}}\n'

    assert inline_rules(source, app="users", door="serializers.py") == []
