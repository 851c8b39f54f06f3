"""Utilities every layer may use: paths and atomic files, console lines, quiet start-up, hardware, figures."""
