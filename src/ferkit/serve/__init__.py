"""Serving over HTTP: a FastAPI app factory, its JSON schemas, micro-batching, and a web page.

Modules: ``app`` (``create_app`` and ``run_server``, thin routes), ``service`` (upload ->
decode -> detect -> batched classification -> result, off the event loop), ``batching``
(concurrent requests' faces classified together), ``uploads`` (reading a request body
within a size cap), ``schemas`` (the response models OpenAPI shows), ``static/`` (the page).
Needs the ``serve`` extra (fastapi, uvicorn, python-multipart); ``import ferkit`` never loads it.
"""
