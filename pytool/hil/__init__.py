"""pytest plugin for over-the-air tests against a real or simulated board (issue #9).

Registered through the `pytest11` entry point, so it is active in every pytest run of this environment; it
adds nothing until its fixtures are requested.
"""
