-- The bindings revoked as idle, by the key they were bound to: a refused refresh finds
-- whether its proof's key held one (http/auth.rs). Partial: no other binding writes it.
CREATE INDEX bindings_idle_by_key ON bindings(dpop_jkt) WHERE revoked_by = 'idle';
