"""lifecycle: keeps Exotel outbound-call campaigns in the state their operators declared."""
