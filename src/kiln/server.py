"""``kiln server``: wires settings, store, storage, compute and services into one process.

Start order: metadata store (migrated); the home's lock (one server per KILN_HOME); what the
last server left reaped (its replicas, its jobs' processes by the restart rule, then their
workspaces and the cgroups in its scope); the embedded S3 server (unless external; it kills
an rclone the last server left) and its front; the training scheduler, the endpoint controller
and the sweeper; then the HTTP listener. Stop order is the reverse. With the embedded store, rclone
listens on a private port with a key only this process holds; the front on ``KILN_S3_PORT``
checks every client's signature and policies and forwards to it. The server's own transfers go
straight to rclone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from kiln.api.ab_testing import ab_testing_routes
from kiln.api.app import AwsApis, build_app, classify
from kiln.api.autoscaling import autoscaling_api
from kiln.api.cloudwatch import cloudwatch_api, cloudwatch_query_api
from kiln.api.cloudwatch_logs import logs_api
from kiln.api.connections import DeadlineHttpProtocol
from kiln.api.gate import AuthGate
from kiln.api.json_protocol import Operation
from kiln.api.keys import key_routes
from kiln.api.logs import JobProgress
from kiln.api.prometheus import DataPathSources, PrometheusMetrics
from kiln.api.query_protocol import QueryApi
from kiln.api.runtime import InvocationRouter
from kiln.api.sagemaker import sagemaker_api
from kiln.auth import policies
from kiln.auth.actions import sagemaker_arn
from kiln.auth.authorizer import Authorizer
from kiln.auth.keystore import KeyStore
from kiln.auth.principals import ADMIN_USER
from kiln.auth.sealing import Sealer
from kiln.compute.backends import open_backend, room_of
from kiln.compute.local import LocalBackend
from kiln.config import (
    ServerAddress,
    Settings,
    remove_server_address,
    write_server_address,
)
from kiln.db import ResourceStore, TrainingJobRecord, TrainingJobStore, connect
from kiln.db.alarms import AlarmRows
from kiln.db.autoscaling import ScalingRows
from kiln.db.inferences import InferenceStore
from kiln.db.leases import EndpointOwnerRows, JobClaims, LeaseRows
from kiln.db.metrics import MetricRows
from kiln.db.monitoring import monitoring_tagged
from kiln.db.tables import endpoint_configs, endpoints, models
from kiln.errors import KilnError
from kiln.home_lock import HomeLock
from kiln.monitoring_parts import build_monitoring
from kiln.ports import free_port
from kiln.services.autoscaling.fleet import HostingFleet
from kiln.services.autoscaling.scaler import Scaler
from kiln.services.autoscaling.service import AutoScalingService
from kiln.services.autoscaling.signals import Signals
from kiln.services.capacity import Demand
from kiln.services.cluster.endpoint_sync import EndpointSync
from kiln.services.cluster.heartbeat import LeaseKeeper, server_id
from kiln.services.cluster.left_behind import LeftBehind
from kiln.services.hosting.cold_start import ColdStarts
from kiln.services.hosting.controller import EndpointController
from kiln.services.hosting.data_plane import DataPlane
from kiln.services.hosting.invocations import InvocationObserver
from kiln.services.hosting.replicas import ReplicaLauncher
from kiln.services.hosting.routing import RoutingTable
from kiln.services.hosting.service import HostingService, HostingStores, endpoint_state
from kiln.services.hosting.warm_spares import WarmSpares
from kiln.services.identity import IdentityService
from kiln.services.logs.cloudwatch import CloudWatchLogs
from kiln.services.logs.stores import open_log_store
from kiln.services.monitoring.ab_reports import AbReports, DeployedVariants
from kiln.services.monitoring.alarms.evaluator import AlarmEvaluator
from kiln.services.monitoring.alarms.service import CloudWatchAlarms
from kiln.services.monitoring.capture import build_capture_writer
from kiln.services.monitoring.feedback import FeedbackService
from kiln.services.monitoring.inference_log import InferenceLog
from kiln.services.monitoring.metrics import CloudWatchMetrics, MetricsStore
from kiln.services.monitoring.metrics.usage import ReplicaView, UsageSampler
from kiln.services.process_credentials import ProcessCredentials, check_keys_for_nodes
from kiln.services.sweeper import Sweeper
from kiln.services.tags import TagService
from kiln.services.training.kept_workspaces import KeptWorkspace, keep
from kiln.services.training.runner import TrainingRunner
from kiln.services.training.scheduler import TrainingScheduler
from kiln.services.training.service import TrainingService, job_demand, parse_spec
from kiln.services.training.stale_workspaces import sweep_workspaces
from kiln.storage import EmbeddedS3Server, ObjectStore, S3Uri
from kiln.storefront.back import Back
from kiln.storefront.listener import FrontListener
from kiln.storefront.proxy import StoreFront
from kiln.transport.unix import UnixReplicaTransport

log = logging.getLogger(__name__)


class KilnServer:
    """Every long-lived part of ``kiln server``, built from one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        check_exposure(settings)
        if settings.is_embedded_s3 and settings.s3_port == 0:
            # Jobs' environments and server.json name the port before the front binds it.
            settings = settings.with_ports(s3_port=free_port())
        check_keys_for_nodes(settings)
        # First: KILN_SANDBOX=required refuses to start before anything else is set up, and an
        # unreachable KILN_RAY_ADDRESS fails fast.
        settings.home.mkdir(parents=True, exist_ok=True)
        owner = server_id(settings.home)
        self.backend = open_backend(settings, owner)
        room = room_of(self.backend, settings)
        settings = room.settings
        self.settings = settings
        for folder in (settings.logs_dir, settings.workspaces_dir):  # home: made above
            folder.mkdir(parents=True, exist_ok=True)
        self.engine = connect(settings.database_url)
        self.jobs = TrainingJobStore(self.engine)
        # Several servers on one database: this server's lease (docs/scale-out-servers.md).
        self.lease = LeaseKeeper(
            LeaseRows(self.engine),
            JobClaims(self.engine),
            owner,
            settings.lease_seconds,
            stop_grace_seconds=settings.stop_grace_seconds,
        )
        self.keys = KeyStore(self.engine, Sealer.from_file(settings.sealing_key_file))
        self.keys.ensure_admin(settings.credentials, policies.ADMIN, policies.JOB_DEFAULT)
        self.credentials = ProcessCredentials(settings, self.keys)
        self.store_back = Back.fresh(settings.s3_port) if settings.is_embedded_s3 else None
        store = settings if self.store_back is None else self.store_back.settings(settings)
        self.objects = ObjectStore.from_settings(store)
        self.s3_server = EmbeddedS3Server(store) if self.store_back is not None else None
        # One log store for every reader; "database" shares it between servers (docs/logs.md).
        self.logs = open_log_store(settings, self.engine)
        # The data plane's InvocationObserver and CaptureSink: sampled invocations to the store.
        self.capture = build_capture_writer(settings, self.objects)
        self.scheduler = TrainingScheduler(
            self.jobs,
            self._make_runner,
            lambda record: job_demand(settings, parse_spec(record.spec)),
            Demand(room.vcpus, room.memory_mib, room.gpus),
            attach=self.backend.attach,
            ownership=self.lease,
        )
        self.lease.on_fenced.append(self.scheduler.fence)
        self.lease.on_restored.append(lambda: self.scheduler.recover(keep_model=self._keep_model))
        # On a cluster what a dead server started runs on (locally it is out of reach: 0).
        self.left_behind = LeftBehind(self.lease.gone_servers, self.backend.stop_left_by)
        self.lease.on_renewed.append(self.left_behind.check)
        self.lease.on_renewed.append(self.scheduler.take_over)
        self.training = TrainingService(settings, self.jobs, self.scheduler)
        self.hosting_stores = HostingStores(
            ResourceStore(self.engine, models),
            ResourceStore(self.engine, endpoint_configs),
            ResourceStore(self.engine, endpoints),
        )
        self.routing = RoutingTable()
        # The owner of each endpoint drives it; every server routes it.
        self.endpoint_sync = EndpointSync(EndpointOwnerRows(self.engine), self.lease, self.routing)
        self.metrics = MetricsStore(
            MetricRows(self.engine),
            retention_seconds=settings.metrics_retention_hours * 3600,
            instances=self._instance_count,
            publish_invocations=settings.invocation_metrics,
        )
        # Spares hand sockets and pipes over by fd: this machine's processes only.
        self.spares = (
            WarmSpares(settings, self.backend) if isinstance(self.backend, LocalBackend) else None
        )
        self.replicas = ReplicaLauncher(
            settings,
            self.objects,
            self.backend,
            self.logs,
            credentials=self.credentials,
            spares=self.spares,
        )
        # Alarms: the store's 10 s invocation slots beside its minutes; rollouts listen to
        # their changes.
        self.alarms = CloudWatchAlarms(AlarmRows(self.engine), settings.region)
        self.alarm_evaluator = AlarmEvaluator(self.alarms, self.metrics, self.metrics.counts)
        self.endpoints = EndpointController(
            settings,
            self.hosting_stores,
            self.replicas,
            self.routing,
            capture=self.capture,
            alarm_states=self.alarms.states,
            owns=self.endpoint_sync.owns,
        )
        self.alarms.add_listener(self.endpoints)
        self.metrics.add_sampler(UsageSampler(self._replica_views, self.metrics.put))
        self.sweeper = Sweeper(
            {
                "training jobs": self.scheduler.sweep,
                "endpoints": self.endpoints.sweep,
                "workspaces": lambda: sweep_workspaces(
                    settings.workspaces_dir, self.jobs, self.scheduler.running, at_start=False
                ),
            }
        )
        self._home_lock = HomeLock(settings.home)
        self.hosting = HostingService(
            settings,
            self.hosting_stores,
            self.endpoint_sync,
            self.capture.problem,
            alarm_names=lambda: set(self.alarms.states()),
        )
        # The scaler reads the per-second rate of the store's invocation slots and drives counts
        # through HostingService.
        fleet = HostingFleet(self.hosting_stores.endpoints, self.hosting, self.routing)
        self.autoscaling = AutoScalingService(
            ScalingRows(self.engine), fleet.exists, settings.region
        )
        self.scaler = Scaler(
            self.autoscaling,
            fleet,
            Signals(self.metrics.counts, self.metrics.minutes),
            tick_seconds=settings.autoscale_tick_seconds,
            quiet_period=settings.scale_to_zero_after_seconds,
        )
        self.alarms.add_listener(self.scaler)  # step scaling policies run on their alarms
        inferences = InferenceStore(self.engine)
        # An InvocationObserver: the integrator hands it to the data plane with the others.
        self.inference_log = InferenceLog(
            inferences, retention_days=settings.inference_log_retention_days
        )
        self.feedback = FeedbackService(
            inferences,
            self.objects,
            S3Uri.parse(settings.ground_truth_s3_uri),
            lambda name: self.hosting_stores.endpoints.get(name) is not None,
        )
        self.ab_reports = AbReports(inferences, self.metrics, self._deployed_variants)
        # Model Monitor and the retraining loop (monitoring_parts.py).
        self.monitoring = build_monitoring(
            settings,
            self.engine,
            self.objects,
            self.jobs,
            self.training,
            self.hosting_stores.endpoints,
            self.metrics,
            self.logs,
        )
        self.tags = TagService(
            {
                "training-job": self.jobs,
                "model": self.hosting_stores.models,
                "endpoint-config": self.hosting_stores.configs,
                "endpoint": self.hosting_stores.endpoints,
                **monitoring_tagged(self.engine),
            }
        )
        self.identity = IdentityService(settings)
        authorizer = Authorizer(settings.region)
        self.s3_front = (
            None
            if self.store_back is None
            else FrontListener(
                StoreFront(self.keys, authorizer, self.store_back, settings.region),
                settings.s3_port,
            )
        )
        cloudwatch_metrics = CloudWatchMetrics(self.metrics)
        self.apis = AwsApis(
            [
                sagemaker_api(self._operations(), check_responses=settings.check_responses),
                logs_api(
                    CloudWatchLogs(self.logs, settings.region),
                    check_responses=settings.check_responses,
                ),
                cloudwatch_api(
                    cloudwatch_metrics, self.alarms, check_responses=settings.check_responses
                ),
                autoscaling_api(self.autoscaling, check_responses=settings.check_responses),
            ],
            [
                QueryApi(
                    "sts",
                    {"GetCallerIdentity": self.identity.get_caller_identity},
                    check_responses=settings.check_responses,
                ),
                QueryApi(
                    "iam",
                    {
                        "GetRole": self.identity.get_role,
                        "SimulatePrincipalPolicy": self.identity.simulate_principal_policy,
                    },
                    check_responses=settings.check_responses,
                ),
                cloudwatch_query_api(
                    cloudwatch_metrics, self.alarms, check_responses=settings.check_responses
                ),
            ],
            authorizer.operation,
        )
        # What learns of every invocation: the metrics store (Kiln's one invocation counter, which
        # the alarms and the autoscaler read too), the capture writer, the inference log.
        observers: list[InvocationObserver] = [self.metrics, self.capture, self.inference_log]
        self.cold_starts = ColdStarts(self.hosting, settings.cold_start_timeout_seconds)
        self.data_plane = DataPlane(
            self.routing,
            UnixReplicaTransport(),
            observers,
            cold_start_queue=settings.cold_start_queue,
            cold_start_timeout=settings.cold_start_timeout_seconds,
            on_demand=self.cold_starts.demand,
        )
        router = InvocationRouter(self.data_plane)
        anonymous = None if settings.auth else self.keys.principal(ADMIN_USER)
        self.app = build_app(
            self.apis,
            router,
            gate=lambda app: AuthGate(
                app, self.keys, authorizer, classify(router, settings.region), anonymous=anonymous
            ),
            key_api=key_routes(
                self.keys, lambda name: sagemaker_arn(settings.region, "endpoint", name)
            ),
            logs=self.logs,
            job_progress=self._job_progress,
            endpoint_replicas=self._endpoint_replicas,
            ab_testing=ab_testing_routes(self.feedback, self.ab_reports),
            timeline=self.monitoring.timeline_routes(),
            retraining=self.monitoring.retraining_routes(authorizer),
            metrics_page=PrometheusMetrics(
                self.metrics,
                self._instance_counts,
                DataPathSources(self.capture, lambda: self.data_plane.shadow_dropped),
            ).handle,
            lifespan=self._lifespan,
        )

    def _operations(self) -> dict[str, Operation]:
        training, hosting = self.training, self.hosting
        return {
            "CreateTrainingJob": training.create_training_job,
            "DescribeTrainingJob": training.describe_training_job,
            "ListTrainingJobs": training.list_training_jobs,
            "StopTrainingJob": training.stop_training_job,
            "CreateModel": hosting.create_model,
            "DescribeModel": hosting.describe_model,
            "ListModels": hosting.list_models,
            "DeleteModel": hosting.delete_model,
            "CreateEndpointConfig": hosting.create_endpoint_config,
            "DescribeEndpointConfig": hosting.describe_endpoint_config,
            "ListEndpointConfigs": hosting.list_endpoint_configs,
            "DeleteEndpointConfig": hosting.delete_endpoint_config,
            "CreateEndpoint": hosting.create_endpoint,
            "DescribeEndpoint": hosting.describe_endpoint,
            "ListEndpoints": hosting.list_endpoints,
            "DeleteEndpoint": hosting.delete_endpoint,
            "UpdateEndpoint": hosting.update_endpoint,
            "UpdateEndpointWeightsAndCapacities": hosting.update_endpoint_weights_and_capacities,
            "AddTags": self.tags.add_tags,
            "ListTags": self.tags.list_tags,
            "DeleteTags": self.tags.delete_tags,
            **self.monitoring.operations(),
        }

    def start(self) -> None:
        """Take the home, clear what the last server left, start the store and controllers."""
        self._home_lock.acquire()
        try:
            self.lease.register()
            self.endpoint_sync.prime()
            self._clear_leftovers()
            if self.s3_front is not None:
                self.s3_front.start()  # first: a taken KILN_S3_PORT fails before rclone starts
            if self.s3_server is not None:
                self.s3_server.start()
            self.inference_log.start()
            self.scheduler.start()
            self.lease.start()
            if self.spares is not None:  # before endpoints: theirs start warm
                self.spares.start(self.replicas.warm_keys())
            self.endpoints.start()
            self.endpoint_sync.start(self.endpoints)
            self.sweeper.start()
            self.capture.start()
            self.metrics.start()
            self.alarm_evaluator.start()
            self.scaler.start()
            self.monitoring.start()  # after the training scheduler: rules may start jobs
        except BaseException:
            self._stop_parts()  # each stops only what it started: a part-way start leaves nothing
            self._home_lock.release()
            raise

    def stop(self) -> None:
        """Stop the controllers and the embedded store, and give the home up."""
        self._stop_parts()
        self.backend.close()
        self.engine.dispose()
        _remove_empty_folders(self.settings.run_dir)
        self._home_lock.release()

    def _stop_parts(self) -> None:
        self.monitoring.stop()  # first: its executions write to the store and metrics
        self.scaler.stop()  # first: no count changes while the controller stops
        self.alarm_evaluator.stop()
        self.capture.close()  # first: it writes what it holds while the store still runs
        self.metrics.stop()  # first: its last minutes go to the database while it is there
        self.sweeper.stop()
        self.endpoint_sync.stop()
        self.endpoints.stop()
        if self.spares is not None:
            self.spares.stop()
        self.scheduler.stop()
        self.lease.stop()  # after its jobs stopped: another server takes them over at once
        self.left_behind.stop()  # after the lease: no renewal starts another round
        self.inference_log.stop()
        self.logs.close()  # after every writer stopped: their last lines reach the store
        if self.s3_front is not None:
            self.s3_front.stop()
        if self.s3_server is not None:
            self.s3_server.stop()

    def _clear_leftovers(self) -> None:
        """Reap and remove what the last server left: it is dead, since we hold the lock."""
        reaped = self.replicas.reap_leftovers()
        if reaped:
            log.warning("stopped %d replica(s) a previous server left running", reaped)
        self.scheduler.recover(keep_model=self._keep_model)
        sweep_workspaces(self.settings.workspaces_dir, self.jobs, lambda: [], at_start=True)
        for cgroup in self.backend.clear_leftovers():
            log.info("removed cgroup %s a previous server left", cgroup)

    def _keep_model(self, job: str) -> KeptWorkspace | None:
        """Keep the workspace of a job the last server left uploading: it holds the model."""
        root = self.settings.workspaces_dir / job
        if not root.is_dir():
            return None
        return keep(root, self.settings.failed_upload_keep_hours)

    def _make_runner(self, record: TrainingJobRecord) -> TrainingRunner:
        return TrainingRunner(
            self.settings,
            self.jobs,
            self.objects,
            self.backend,
            record,
            self.logs,
            credentials=self.credentials,
            on_metric=lambda host, name, value, at: self.metrics.training_metric(
                record.name, host, name, value, at
            ),
            on_completed=(
                None if self.monitoring.baselines is None else self.monitoring.baselines.hand_over
            ),
        )

    def _instance_count(self, endpoint: str, variant: str) -> int:
        """How many replicas serve ``variant`` now (``InvocationsPerInstance``)."""
        route = self.routing.get(endpoint)
        found = None if route is None else route.variant(variant)
        return 0 if found is None else len(found.replicas)

    def _replica_views(self) -> list[ReplicaView]:
        """Every serving replica, for the CPU and memory sampler."""
        views = []
        for route in self.routing.routes():
            fleet = self.endpoints.fleet(route.name)
            for replica in [] if fleet is None else fleet.all():
                pid = replica.process.local_pid
                if pid is None:  # on another node: /proc here cannot read it
                    continue
                kind = self.settings.instance_types.get(replica.spec.instance_type)
                views.append(
                    ReplicaView(replica.id, route.name, replica.spec.variant,
                                pid, 0 if kind is None else kind.memory_mib)
                )  # fmt: skip
        return views

    def _instance_counts(self) -> list[tuple[str, str, int]]:
        return [
            (route.name, variant.name, len(variant.replicas))
            for route in self.routing.routes()
            for variant in route.variants
        ]

    def _endpoint_replicas(self, name: str) -> list[dict[str, Any]] | None:
        record = self.hosting_stores.endpoints.get(name)
        if record is None:
            return None
        return [replica.to_dict() for replica in endpoint_state(record).replicas]

    def _deployed_variants(self, name: str) -> DeployedVariants | None:
        record = self.hosting_stores.endpoints.get(name)
        if record is None:
            return None
        deployment = endpoint_state(record).deployment
        return DeployedVariants(
            tuple(v.name for v in deployment.variants), tuple(v.name for v in deployment.shadows)
        )

    def _job_progress(self, name: str) -> JobProgress | None:
        record = self.jobs.get(name)
        if record is None:
            return None
        return JobProgress(record.status, parse_spec(record.spec).resource_config.instance_count)

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(self.start)
        try:
            yield
        finally:
            await self.data_plane.aclose()
            await asyncio.to_thread(self.stop)


def check_exposure(settings: Settings) -> None:
    """Refuse to serve without auth beyond loopback; say loudly when auth is off at all."""
    if settings.auth:
        return
    if not is_loopback(settings.host):
        raise ExposureError(
            f"Refusing to start with auth off (KILN_AUTH=0 / --no-auth) on {settings.host}: "
            "anyone who reaches it could run code through CreateTrainingJob. Bind 127.0.0.1, "
            "or keep auth on and hand out keys with `kiln keys create`."
        )
    log.warning(
        "AUTH IS OFF: every request to %s is accepted unsigned, as the admin user. "
        "Only processes on this machine can reach it.",
        settings.host,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names loopback only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ExposureError(KilnError):
    """A configuration that would expose an unauthenticated server."""


class _Listener(uvicorn.Server):
    """uvicorn, recording where it listens in ``KILN_HOME`` once its sockets are bound."""

    def __init__(self, kiln: KilnServer, log_level: str) -> None:
        self._settings = settings = kiln.settings
        super().__init__(
            uvicorn.Config(
                kiln.app,
                host=settings.host,
                port=settings.port,
                log_level=log_level,
                access_log=False,
                lifespan="on",
                http=DeadlineHttpProtocol,
            )
        )

    @property
    def bound_url(self) -> str:
        """``http://host:port`` of the socket uvicorn bound."""
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def _is_port_picked(self) -> bool:
        """Whether the kernel picks the port (known only once bound)."""
        return self._settings.port == 0 or self._settings.endpoint.endswith(":0")

    @property
    def endpoint(self) -> str:
        """The URL clients use: the bound one, unless KILN_ENDPOINT names another."""
        return self.bound_url if self._is_port_picked else self._settings.endpoint

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # A client that finds a configured port open must find the address file too (the S3
        # port is in it), so it is written before listening; a picked port, only after.
        if not self._is_port_picked:
            self._write_address()
        try:
            await super().startup(sockets)
        except BaseException:  # uvicorn exits when it cannot bind
            remove_server_address(self._settings.home)
            raise
        if not self.started:
            remove_server_address(self._settings.home)
            return
        if self._is_port_picked:
            self._write_address()
        log.info(
            'Kiln API %s, S3 %s, KILN_HOME %s; clients: eval "$(kiln env)"',
            self.endpoint,
            self._settings.s3_endpoint_url,
            self._settings.home,
        )

    def _write_address(self) -> None:
        write_server_address(self._settings.home, ServerAddress.of(self._settings, self.endpoint))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        remove_server_address(self._settings.home)
        await super().shutdown(sockets)


def _remove_empty_folders(root: Path) -> None:
    """Remove ``root`` and every folder under it that holds no file (what a clean stop leaves
    of the run dir; a folder that still holds something stays)."""
    for folder, _, _ in os.walk(root, topdown=False):  # children before their parents
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def serve(settings: Settings) -> None:
    """Run ``kiln server`` in the foreground until interrupted."""
    _Listener(KilnServer(settings), "info").run()


class ServerThread:
    """``kiln server`` on a background thread: for tests, benchmarks and the demo.

    Listens on ``settings.port`` (0 picks a free port; ``endpoint`` tells which one).
    """

    def __init__(self, settings: Settings, log_level: str = "warning") -> None:
        self.kiln = KilnServer(settings)
        self._server = _Listener(self.kiln, log_level)
        self._thread = threading.Thread(target=self._server.run, name="kiln-server", daemon=True)

    @property
    def endpoint(self) -> str:
        """The URL the API answers on."""
        return self._server.bound_url

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start and wait until the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("kiln server failed to start; see the log above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"kiln server did not start within {timeout:.0f} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=120)
