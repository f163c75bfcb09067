"""Amazon States Language tools: an offline validator and a graph renderer.

    from workshop.asl import validate, graph_bundle, StateMachineGraph

`validate` mirrors the Step Functions ValidateStateMachineDefinition API
(`validate_state` checks one state on its own);
`graph_bundle` / `StateMachineGraph` draw a definition (optionally coloured
by execution status) as Mermaid text and a self-contained SVG.

Names are resolved lazily so that `workshop asl validate` imports only the
validator, not the renderer.
"""

__all__ = ["validate", "validate_state", "graph_bundle", "StateMachineGraph", "to_mermaid", "to_svg"]


def __getattr__(name):
    if name in ("validate", "validate_state"):
        from workshop.asl import validator

        return getattr(validator, name)
    if name in ("graph_bundle", "StateMachineGraph", "to_mermaid", "to_svg"):
        from workshop.asl import graph

        return getattr(graph, name)
    raise AttributeError(f"module 'workshop.asl' has no attribute {name!r}")
