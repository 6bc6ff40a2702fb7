"""Colour: the maths of luma, L*, ab and chroma planes (:mod:`.lab`) and the temporal
stabilizer that carries colour from frame to frame (:mod:`.temporal`).

The lowest room: numpy and OpenCV on arrays, no I/O, no threads, and nothing from the rest
of the package but its configuration.
"""
