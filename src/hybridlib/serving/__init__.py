"""Serving: the aiohttp app (:mod:`.app`), the cloud/WebRTC pipelines (:mod:`.cloud`), the
split and exit modes (:mod:`.splitmode`, :mod:`.exitmode`), test media (:mod:`.media`), TLS
(:mod:`.tls`) and the static browser client in ``web/``. Imports nothing heavy: aiortc and TF
load inside the pipelines.
"""
