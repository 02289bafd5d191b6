from main import app, hello


@app.task
async def double_hello(name: str) -> list:
    return [await hello(name), await hello(name.upper())]
