"""crmlake's customer-analytics SQL functions inside datafusion-python.

    import datafusion, crmlake
    ctx = datafusion.SessionContext()
    crmlake.register(ctx)
    ctx.sql("SELECT * FROM rfm('transactions', DATE '2011-12-10')").to_pandas()

Scalar and aggregate functions are crmlake's own Rust code, handed to
datafusion-python through datafusion-ffi capsules. Table functions
(``rfm``, ``customer_summary``, ``association_rules``, ...) generate SQL in
Rust over their input and are planned by your session, so their input can be
anything your session can read: Parquet, in-memory tables, views.

``crmlake.function_docs()`` lists every function with a runnable example.
"""

from __future__ import annotations

import datetime as _dt
import itertools as _itertools
import threading as _threading

try:
    import datafusion as _datafusion
except ImportError as e:  # pragma: no cover - pip installs it with crmlake
    raise ImportError(
        "crmlake needs datafusion-python: pip install 'datafusion>=55,<56'"
    ) from e

from . import _crmlake

__version__ = _crmlake.__version__

_FFI_MAJOR = _crmlake.DATAFUSION_FFI_MAJOR


def _check_datafusion_version(version: str) -> None:
    """Refuse a datafusion-python of another major version.

    Functions exported through datafusion-ffi are only valid between the
    same DataFusion major version; a mismatch crashes the interpreter on the
    first query instead of raising.
    """
    try:
        major = int(str(version).split(".")[0])
    except ValueError:
        major = None
    if major != _FFI_MAJOR:
        raise ImportError(
            f"crmlake {__version__} is built for datafusion-python {_FFI_MAJOR}.x "
            f"(datafusion-ffi {_FFI_MAJOR}), but datafusion {version} is installed: "
            f"pip install 'datafusion>={_FFI_MAJOR},<{_FFI_MAJOR + 1}'"
        )


_check_datafusion_version(getattr(_datafusion, "__version__", "unknown"))

from datafusion import udaf as _udaf  # noqa: E402
from datafusion import udf as _udf  # noqa: E402
from datafusion import udtf as _udtf  # noqa: E402

__all__ = ["register", "function_docs", "function_names"]

_views = _itertools.count()


def function_docs() -> list[dict]:
    """Every crmlake function: name, kind, signature, description, example."""
    return _crmlake.function_docs()


def function_names() -> list[str]:
    """Names of every function ``register`` registers, sorted."""
    return sorted(d["name"] for d in function_docs())


def register(ctx: "_datafusion.SessionContext") -> list[str]:
    """Register every crmlake function in ``ctx``; returns their names."""
    names = []
    for f in _crmlake.scalar_functions():
        ctx.register_udf(_udf(f))
        names.append(f.name)
    for f in _crmlake.aggregate_functions():
        ctx.register_udaf(_udaf(f))
        names.append(f.name)
    for doc in function_docs():
        if doc["kind"] == "table":
            call = _table_function(doc["name"], doc["description"])
            ctx.register_udtf(_udtf(call, doc["name"], with_session=True))
            names.append(doc["name"])
    return sorted(names)


def _in_thread(work):
    """Run ``work()`` on a helper thread and return its result.

    A table function is called while datafusion-python plans the outer query
    on this thread; planning the function's own SQL here would start a second
    plan on the same runtime thread, which datafusion-python does not allow.
    """
    result = {}

    def run():
        try:
            result["value"] = work()
        except BaseException as e:  # re-raised on the caller's thread
            result["error"] = e

    t = _threading.Thread(target=run, name="crmlake-plan")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _literal(name: str, position: int, expr) -> object:
    try:
        v = expr.python_value()
    except Exception as e:
        raise ValueError(f"{name}: argument {position} must be a constant, got {expr}") from e
    if hasattr(v, "as_py"):  # datafusion-python hands literals over as pyarrow scalars
        v = v.as_py()
    if isinstance(v, _dt.datetime):
        v = v.date()
    if isinstance(v, _dt.date):
        v = v.isoformat()
    return v


def _table_function(name: str, description: str):
    def call(*args, session):
        if not args:
            raise ValueError(f"{name}: the first argument, input, is missing")
        values = [_literal(name, i + 1, a) for i, a in enumerate(args)]
        if not isinstance(values[0], str):
            raise ValueError(
                f"{name}: argument 'input' must be a table name or a query string, got {values[0]!r}"
            )
        input_sql = _crmlake.input_sql(name, values[0])
        # Other table inputs (events, customers, rules given as a table):
        # table names or queries the caller's session plans, as the first.
        others = [
            (i, _crmlake.input_sql(name, values[i], argument))
            for i, argument in _crmlake.other_table_inputs(name)
            if i < len(values)
            and isinstance(values[i], str)
            and _crmlake.is_table_input(argument, values[i])
        ]

        def plan():
            registered = []

            def register(sql):
                df = session.sql(f"SELECT * FROM {sql} AS input")
                view = f"__crmlake_input_{next(_views)}"
                session.register_view(view, df)
                registered.append(view)
                return view, df

            try:
                view, df = register(input_sql)
                rest, views = list(values[1:]), []
                for i, sql in others:
                    other_view, other = register(sql)
                    rest[i - 1] = other_view
                    views.append((other_view, other.schema()))
                sql = _crmlake.table_function_sql(name, view, df.schema(), rest, views)
                return session.sql(sql)
            finally:
                for v in registered:
                    session.deregister_table(v)

        return _in_thread(plan)

    call.__name__ = name
    call.__doc__ = description
    return call
