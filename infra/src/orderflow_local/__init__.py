"""orderflow's local runtime: moto as the embedded AWS, provisioned from the services' SAM templates."""
