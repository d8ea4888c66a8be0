"""Pictures a person looks at: stamp rendering and the scored-alert gallery (extra `viz`)."""
