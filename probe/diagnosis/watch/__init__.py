"""Repeated attempts read over time (``probe watch``, ``check --repeat``): the statistics of
each port's series (``stats``), how its failures fall in time (``series``), and the rules that
say why a port is intermittent (``rules``: intermittent-refusal, flapping, syn-loss,
latency-spikes, dns-changed, overload-vs-firewall). Pure functions over ``model.Attempt``
records; nothing here touches the network."""
