//! health_check extension: HTTP status of the service (13133)
