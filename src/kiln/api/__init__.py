"""Wire protocols: SageMaker JSON 1.1, Kiln's native REST. Parse → call a service → serialise."""
