"""Small JSON Schemas of the operators' kinds (KEDA, RabbitMQ Cluster Operator, MongoDB), written
from their documented fields, and a check of an object against them."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from tests.unit.k8s.render import DNS_LABEL, K8S_VERSION

STRING = {"type": "string", "minLength": 1}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
QUANTITY = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"},
    ]
}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": QUANTITY},
        "limits": {"type": "object", "additionalProperties": QUANTITY},
    },
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
        "namespace": {"type": "string", "pattern": DNS_LABEL},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}
OBJECT = {"type": "object"}


def custom_resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


# KEDA 2.x: https://keda.sh/docs/latest/reference/scaledobject-spec/ and the rabbitmq scaler's parameters.
SCALED_OBJECT = custom_resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    {
        "type": "object",
        "required": ["scaleTargetRef", "triggers"],
        "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": STRING,
                    "kind": STRING,
                    "apiVersion": STRING,
                    "envSourceContainerName": STRING,
                },
            },
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "initialCooldownPeriod": {"type": "integer", "minimum": 0},
            "idleReplicaCount": {"type": "integer", "minimum": 0},
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "fallback": {
                "type": "object",
                "required": ["failureThreshold", "replicas"],
                "additionalProperties": False,
                "properties": {
                    "failureThreshold": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1},
                    "behavior": {"enum": ["static", "currentReplicas", "currentReplicasIfHigher"]},
                },
            },
            "advanced": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "horizontalPodAutoscalerConfig": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"name": STRING, "behavior": OBJECT},
                    },
                    "scalingModifiers": OBJECT,
                },
            },
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "metadata"],
                    "additionalProperties": False,
                    "properties": {
                        "type": STRING,
                        "name": STRING,
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "useCachedMetrics": {"type": "boolean"},
                        "metadata": STRING_MAP,
                        "authenticationRef": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": STRING,
                                "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
                            },
                        },
                    },
                    "if": {"properties": {"type": {"const": "rabbitmq"}}},
                    "then": {
                        "properties": {
                            "metadata": {
                                "required": ["queueName", "mode", "value"],
                                "properties": {
                                    "queueName": STRING,
                                    "mode": {"enum": ["QueueLength", "MessageRate"]},
                                    "value": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                    "activationValue": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                    "protocol": {"enum": ["auto", "amqp", "http"]},
                                    "vhostName": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        },
    },
)

TRIGGER_AUTHENTICATION = custom_resource(
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "secretTargetRef": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["parameter", "name", "key"],
                    "additionalProperties": False,
                    "properties": {"parameter": STRING, "name": STRING, "key": STRING},
                },
            },
            "env": {"type": "array"},
            "configMapTargetRef": {"type": "array"},
            "podIdentity": OBJECT,
            "hashiCorpVault": OBJECT,
            "azureKeyVault": OBJECT,
            "awsSecretManager": OBJECT,
            "gcpSecretManager": OBJECT,
            "boundServiceAccountToken": {"type": "array"},
        },
    },
)

# RabbitMQ Cluster Operator: https://github.com/rabbitmq/cluster-operator (api/v1beta1, RabbitmqClusterSpec).
RABBITMQ_CLUSTER = custom_resource(
    "rabbitmq.com/v1beta1",
    "RabbitmqCluster",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "image": STRING,
            "imagePullSecrets": {"type": "array"},
            "service": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]},
                    "annotations": STRING_MAP,
                    "ipFamilyPolicy": STRING,
                },
            },
            "persistence": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"storageClassName": STRING, "storage": QUANTITY},
            },
            "resources": RESOURCES,
            "affinity": OBJECT,
            "tolerations": {"type": "array"},
            "rabbitmq": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "additionalPlugins": {"type": "array", "items": STRING},
                    "additionalConfig": {"type": "string"},
                    "advancedConfig": {"type": "string"},
                    "envConfig": {"type": "string"},
                    "erlangInetConfig": {"type": "string"},
                },
            },
            "tls": OBJECT,
            "override": OBJECT,
            "secretBackend": OBJECT,
            "skipPostDeployScript": {"type": "boolean"},
            "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
            "delayStartSeconds": {"type": "integer", "minimum": 0},
            "autoEnableAllFeatureFlags": {"type": "boolean"},
        },
    },
)

# MongoDB Controllers for Kubernetes / Community Operator: the MongoDBCommunity resource
# (mongodbcommunity.mongodb.com/v1; docs/deploy-configure.md and the CRD's required fields).
MONGODB_COMMUNITY = custom_resource(
    "mongodbcommunity.mongodb.com/v1",
    "MongoDBCommunity",
    {
        "type": "object",
        "required": ["members", "type", "version", "security"],
        "additionalProperties": False,
        "properties": {
            "members": {"type": "integer", "minimum": 1},
            "arbiters": {"type": "integer", "minimum": 0},
            "type": {"enum": ["ReplicaSet"]},
            "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
            "featureCompatibilityVersion": STRING,
            "replicaSetHorizons": {"type": "array"},
            "security": {
                "type": "object",
                "required": ["authentication"],
                "additionalProperties": False,
                "properties": {
                    "authentication": {
                        "type": "object",
                        "required": ["modes"],
                        "additionalProperties": False,
                        "properties": {
                            "modes": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"enum": ["SCRAM", "SCRAM-SHA-1", "SCRAM-SHA-256", "X509"]},
                            },
                            "ignoreUnknownUsers": {"type": "boolean"},
                            "agentMode": STRING,
                        },
                    },
                    "tls": OBJECT,
                    "roles": {"type": "array"},
                },
            },
            "users": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"],
                    "additionalProperties": False,
                    "properties": {
                        "name": STRING,
                        "db": STRING,
                        "passwordSecretRef": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {"name": STRING, "key": STRING},
                        },
                        "roles": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "db"],
                                "additionalProperties": False,
                                "properties": {"name": STRING, "db": STRING},
                            },
                        },
                        "scramCredentialsSecretName": {"type": "string", "pattern": DNS_LABEL},
                        "connectionStringSecretName": STRING,
                        "connectionStringSecretNamespace": STRING,
                        "additionalConnectionStringConfig": OBJECT,
                    },
                },
            },
            "statefulSet": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"spec": OBJECT, "metadata": OBJECT},
            },
            "additionalMongodConfig": OBJECT,
            "additionalConnectionStringConfig": OBJECT,
            "agent": OBJECT,
            "automationConfig": OBJECT,
            "memberConfig": {"type": "array"},
            "prometheus": OBJECT,
        },
    },
)

CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): RABBITMQ_CLUSTER,
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"): MONGODB_COMMUNITY,
}


def validate_embedded(api_version: str, kind: str, spec: dict[str, Any], where: str) -> None:
    """A Kubernetes type embedded in a custom resource, checked by wrapping it in a built-in object."""
    try:
        kubernetes_validate.validate(
            {"apiVersion": api_version, "kind": kind, "metadata": {"name": "embedded"}, "spec": spec},
            K8S_VERSION,
            strict=True,
        )
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}") from exc
