"""A classroom on one laptop: many phones join within seconds over one shared, shaped link.

``link``: the shared link (a shaping TCP proxy); ``hybrid``: phones that download the app and
predict on their own (real pages + lightweight clients); ``cloud``: phones that stream to the
server under its admission cap; ``room``: both scenarios end to end. docs/CLASSROOM.md has the
numbers and the decisions.
"""
from hybridlib.study.classroom.link import SharedLink, running
from hybridlib.study.classroom.room import cloud_room, hybrid_room, page_slots

__all__ = ["SharedLink", "cloud_room", "hybrid_room", "page_slots", "running"]
