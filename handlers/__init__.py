"""Thin adapters between the outside world and the core: parse the request, call `bot`, reply.

Handlers hold no business rules; they translate a transport's request into a call on the core
and the core's answer back into that transport's reply.
"""
