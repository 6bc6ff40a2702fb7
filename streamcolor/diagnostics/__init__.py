"""What a machine and a model do: throughput (:mod:`.bench`), colour quality against real
photos (:mod:`.quality`) and the machine's readiness (:mod:`.doctor`).

They return figures and reports; the command line (:mod:`streamcolor.cli`) shows them.
"""
