"""The AWS service models that define the wire contract, loaded from botocore at run time.

openacm never retypes a shape: every member name, type, constraint and error code it speaks
comes from the same JSON model files that boto3 and the AWS CLI use, so a client built from a
given botocore version and this server agree by construction.

Only botocore's own bundled data and openacm's own models (``protocol/models``, the APIs
openacm adds, in the same format) are searched, never ``~/.aws/models``, so what the server
accepts cannot change with the home directory of the user running it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

from openacm.protocol.errors import UnknownOperationError

__all__ = ["MODELS_PATH", "ApiModel"]

# openacm's own service models, laid out as botocore's data directory is
# (<service>/<api version>/service-2.json): clients load them through AWS_DATA_PATH.
MODELS_PATH = Path(__file__).resolve().parent / "models"


class ApiModel:
    """One AWS service model loaded from botocore (its Loader and ServiceModel)."""

    _cache: ClassVar[dict[str, ApiModel]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    service_model: ServiceModel
    service_name: str
    target_prefix: str
    signing_name: str
    protocol: str
    protocols: tuple[str, ...]
    error_shapes: dict[str, str]

    def __init__(self, service_model: ServiceModel) -> None:
        self.service_model = service_model
        self.service_name = str(service_model.service_name)
        metadata = service_model.metadata
        # JSON RPC services name the operation in X-Amz-Target as "<targetPrefix>.<Name>";
        # other protocols have no prefix, and then no target ever matches.
        self.target_prefix = str(metadata.get("targetPrefix", ""))
        self.signing_name = str(service_model.signing_name)
        self.protocol = str(metadata.get("protocol", ""))
        # Every wire protocol the service speaks ("smithy-rpc-v2-cbor", "json"); models that
        # predate the list name only one.
        self.protocols = tuple(str(p) for p in metadata.get("protocols") or [self.protocol])
        # The error codes the model declares, with the names of their shapes.
        self.error_shapes = {
            str(shape.error_code): str(shape.name) for shape in service_model.error_shapes
        }
        self._operations: dict[str, OperationModel] = {
            str(name): service_model.operation_model(name) for name in service_model.operation_names
        }
        self._targets: dict[str, OperationModel] = (
            {f"{self.target_prefix}.{name}": op for name, op in self._operations.items()}
            if self.target_prefix
            else {}
        )

    @classmethod
    def load(cls, service_name: str) -> ApiModel:
        """The model of `service_name` ("acm", "acm-pca", openacm's "openacm"), loaded once
        per process."""
        model = cls._cache.get(service_name)
        if model is not None:
            return model
        with cls._lock:
            model = cls._cache.get(service_name)
            if model is None:
                # botocore's data first: a file of ours can never shadow an AWS contract.
                loader = Loader(
                    extra_search_paths=[Loader.BUILTIN_DATA_PATH, str(MODELS_PATH)],
                    include_default_search_paths=False,
                )
                description = loader.load_service_model(service_name, "service-2")
                model = cls(ServiceModel(description, service_name=service_name))
                cls._cache[service_name] = model
        return model

    @property
    def operation_names(self) -> list[str]:
        return list(self._operations)

    @property
    def xml_namespace(self) -> str:
        """The namespace of a Query service's XML answers."""
        return str(self.service_model.metadata.get("xmlNamespace", ""))

    def operation(self, name: str) -> OperationModel:
        """The operation called `name` exactly ("DescribeCertificate")."""
        op = self._operations.get(name)
        if op is None:
            raise UnknownOperationError("")
        return op

    def operation_for_target(self, target: str | None) -> OperationModel:
        """The operation an X-Amz-Target header names ("CertificateManager.DescribeCertificate").

        A missing header, another service's prefix, a name without the prefix or in another
        case all end the same way AWS ends them: UnknownOperationException with no message.
        """
        op = self._targets.get(target) if target else None
        if op is None:
            raise UnknownOperationError("")
        return op
