def decode(data):
    return {"length": len(data), "upper": data.upper()}
