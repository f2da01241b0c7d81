"""orderflow's common package: the event contracts and the helpers every service's handlers use."""
