"""Study: the experiments built on the other packages, one subpackage each — when offloading pays
(:mod:`.offload`), real split execution (:mod:`.split`), seed 003's choice table executed
(:mod:`.choice`), early exit (:mod:`.early_exit`), multi-user load (:mod:`.load`) and the report (:mod:`.report`).
"""
