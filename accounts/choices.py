from django.db import models


class OrganizationRole(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"


class ProjectRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    CURATOR = "curator", "Curator"
    EVALUATOR = "evaluator", "Evaluator"
    VIEWER = "viewer", "Viewer"


class AuditAction(models.TextChoices):
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Failed login"
    LOGOUT = "logout", "Logout"
    ORGANIZATION_CREATED = "organization_created", "Organization created"
    ORGANIZATION_UPDATED = "organization_updated", "Organization updated"
    ORGANIZATION_DELETED = "organization_deleted", "Organization deleted"
    ORGANIZATION_MEMBER_ADDED = "organization_member_added", "Organization member added"
    ORGANIZATION_MEMBER_ROLE_CHANGED = "organization_member_role_changed", "Organization member role changed"
    ORGANIZATION_MEMBER_REMOVED = "organization_member_removed", "Organization member removed"
    PROJECT_CREATED = "project_created", "Project created"
    PROJECT_UPDATED = "project_updated", "Project updated"
    PROJECT_DELETED = "project_deleted", "Project deleted"
    MEMBER_ADDED = "member_added", "Project member added"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Project member role changed"
    MEMBER_REMOVED = "member_removed", "Project member removed"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    MODEL_ENDPOINT_CREATED = "model_endpoint_created", "Model endpoint registered"
    MODEL_ENDPOINT_UPDATED = "model_endpoint_updated", "Model endpoint changed"
    MODEL_ENDPOINT_DELETED = "model_endpoint_deleted", "Model endpoint deleted"
    SUITE_IMPORTED = "suite_imported", "Benchmark suite imported"
    SUITE_DELETED = "suite_deleted", "Benchmark suite deleted"
    EVALUATION_CREATED = "evaluation_created", "Evaluation started"
    EVALUATION_CANCELLED = "evaluation_cancelled", "Evaluation cancelled"
    EVALUATION_RESUMED = "evaluation_resumed", "Evaluation resumed"
    EVALUATION_DELETED = "evaluation_deleted", "Evaluation deleted"
    TUNING_DATASET_CREATED = "tuning_dataset_created", "Tuning dataset built"
    TUNING_JOB_CREATED = "tuning_job_created", "Tuning job started"
    TUNING_JOB_CANCELLED = "tuning_job_cancelled", "Tuning job cancelled"
    TUNING_JOB_RESUMED = "tuning_job_resumed", "Tuning job resumed"
