"""The typed endpoint state converts to and from the stored dict, old rows included."""

from __future__ import annotations

from typing import Any

from kiln.services.hosting.shapes import (
    DesiredWeightAndCapacity,
    EndpointState,
    VariantNumbers,
)

VARIANT: dict[str, Any] = {
    "VariantName": "AllTraffic",
    "ModelName": "m",
    "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 2,
    "InitialVariantWeight": 1.0,
    "VolumeSizeInGB": 4,
    "Container": {"Image": "kiln/python", "ModelDataUrl": "s3://b/m.tar.gz"},
    "ExecutionRoleArn": "arn:aws:iam::000000000000:role/kiln",
}
# A row as the server before typed state wrote it: no shadows, no capture.
OLD_ROW: dict[str, Any] = {
    "Deployment": {"EndpointConfigName": "c", "Variants": [VARIANT]},
    "Variants": {
        "AllTraffic": {
            "DesiredWeight": 1.0,
            "CurrentWeight": 1.0,
            "DesiredInstanceCount": 2,
            "CurrentInstanceCount": 2,
        }
    },
    "Replicas": [{"VariantName": "AllTraffic", "ReplicaId": "r-1", "Phases": {"load": 0.5}}],
    "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredWeight": 2.0}],
    "FailureReason": "Update failed: x",
}


def test_an_old_row_loads_typed() -> None:
    state = EndpointState.from_dict(OLD_ROW)
    (variant,) = state.deployment.variants
    assert (variant.name, variant.initial_count, variant.volume_size_gb) == ("AllTraffic", 2, 4)
    assert variant.container["ModelDataUrl"] == "s3://b/m.tar.gz"
    assert state.deployment.shadows == ()
    assert state.deployment.capture is None
    assert state.variants["AllTraffic"] == VariantNumbers(1.0, 1.0, 2, 2)
    assert state.desired == (DesiredWeightAndCapacity("AllTraffic", 2.0, None),)
    assert state.failure_reason == "Update failed: x"


def test_an_old_row_round_trips_unchanged() -> None:
    assert EndpointState.from_dict(OLD_ROW).to_dict() == OLD_ROW


def test_shadows_and_capture_round_trip() -> None:
    row = {
        **OLD_ROW,
        "Deployment": {
            "EndpointConfigName": "c",
            "Variants": [VARIANT],
            "ShadowVariants": [{**VARIANT, "VariantName": "Shadow", "InitialVariantWeight": 0.5}],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 20,
                "DestinationS3Uri": "s3://b/capture",
                "CaptureOptions": [{"CaptureMode": "Input"}],
            },
        },
    }
    state = EndpointState.from_dict(row)
    assert [v.name for v in state.deployment.all_variants()] == ["AllTraffic", "Shadow"]
    assert state.deployment.capture is not None
    assert state.deployment.capture.config.sampling_percentage == 20
    assert EndpointState.from_dict(state.to_dict()) == state


def test_a_new_endpoint_numbers_every_variant_with_nothing_running() -> None:
    state = EndpointState.from_dict(OLD_ROW)
    fresh = EndpointState.initial(state.deployment)
    assert fresh.variants == {"AllTraffic": VariantNumbers(1.0, 1.0, 2, 0)}
    assert fresh.pending is None
    assert fresh.failure_reason is None
