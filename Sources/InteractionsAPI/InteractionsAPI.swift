// Interactions API.
