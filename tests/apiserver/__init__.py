"""A local stand-in for kube-apiserver and the kube-controller-manager certificate controllers, for tests."""

from .server import Fault, Options, TestAPIServer

__all__ = ["Fault", "Options", "TestAPIServer"]
