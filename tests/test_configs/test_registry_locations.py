"""Registries name a ``locations`` module only where mmdfkd registers something into them.

Configs resolve their ``type`` strings through these registries (``default_scope='mmdfkd'``):
a location that registers nothing would only import a package for no type, and a registry
that holds mmdfkd types without a location would miss them in a fresh process.
"""
import importlib

from mmdfkd import registry


def child_registries() -> dict:
    return {name: reg for name, reg in vars(registry).items() if isinstance(reg, registry.ChildRegistry)}


def test_a_registry_has_locations_exactly_when_mmdfkd_registers_into_it():
    registries = child_registries()
    for reg in registries.values():  # every package any registry names, so all mmdfkd modules are registered
        for location in reg._locations:
            importlib.import_module(location)
    for name, reg in registries.items():
        assert bool(reg._locations) == bool(reg.module_dict), (name, reg._locations, sorted(reg.module_dict))
