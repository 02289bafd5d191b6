from main import app


@app.task
def triple(x: int) -> int:
    return 3 * x
