"""Seed 003's choice table, executed and scored out of sample (notebook 11).

Neurosurgeon (seed 003) picks one cut per DNN × mobile × link. Here the partition engine picks
one per network × device class × link × server load, every cut (or a documented sample) is
*executed* (head in a CPU-throttled Chromium page, tail on the real server, DevTools-shaped
link: :mod:`hybridlib.study.split.execute`), and the pick is scored against the measured best.
Calibration comes from a probe run that is never scored (:mod:`.engine`).

Modules: :mod:`.sizes` (preset sizes), :mod:`.networks` (which networks, 003's columns),
:mod:`.seed003` (003's own tables, quoted), :mod:`.cuts` (which cuts run), :mod:`.engine`
(profiles, probe calibration, the engine's picks), :mod:`.execute` (the scored run),
:mod:`.score` (hits, regret, discriminating cases), :mod:`.table` (003's layout),
:mod:`.figures`, :mod:`.run` (the notebook's steps).
"""
