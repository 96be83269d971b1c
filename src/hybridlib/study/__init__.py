"""Study: the experiments built on the other packages — real split execution (:mod:`.split`),
early exit (:mod:`.early_exit`), multi-user load (:mod:`.load`), the notebook runner
(:mod:`.pipeline`) and the report (:mod:`.report`).
"""
