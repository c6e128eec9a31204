"""Geometry shared by the engines: a 3D 68-point mean face and weak-perspective pose fitting."""
