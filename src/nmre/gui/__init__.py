"""The Qt studio: the therapist's dashboard and the patient view (the only package that imports PySide6/pyqtgraph).

``nmre studio`` (:func:`nmre.gui.app.run_studio`). The engine runs in a worker
thread; the GUI pulls the latest feedback state and rings of recent samples on
its timers and never computes feedback itself.
"""
