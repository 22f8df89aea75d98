"""Helper imported by the handler next to it."""


def shout(text: str) -> str:
    return text.upper() + "!"
