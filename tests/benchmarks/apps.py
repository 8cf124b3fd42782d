"""The applications the benchmark compares with the API as it runs in production."""

from fastapi import FastAPI

from app.main import create_app

# The API without its request metrics: the difference is what instrumentation costs.
uninstrumented = create_app(instrumented=False)

# The ceiling: FastAPI returning a constant, served the same way.
bare = FastAPI()


@bare.get("/bare")
@bare.get("/healthz")  # for the start-up wait
async def constant() -> dict[str, str]:
    """A constant answer: no database, no metrics."""
    return {"status": "ok"}
