"""Names vulture (`make lint`) reports as unused that are used by convention, by a framework
or by the tests. Each group says why; anything dead goes from the code, not into this file."""

# ruff: noqa: F821, B018

# console/commands/__init__.py reads each module's COMMAND declaration; Typer commands are
# registered by decorator (ignore_decorators in pyproject.toml).
COMMAND
_.help  # click command attributes set for the help output

# Enum members reached by value from the command line (capacity --method/--level).
linear
conservative
aggressive

# pydantic: model settings are read by the metaclass (validators: ignore_decorators).
model_config

# Plan file fields: written to and read from the YAML plan by pydantic, not by attribute.
source_ip
target_network_id
target_network_name
keep_ip
target_type
source_ips
transfer
target_zone
target_image_name

# SQLAlchemy: mapped columns that are written and queried in SQL, and the declarative base's type map.
type_annotation_map
first_at
last_at
imported_at
computed_at
fitted_at
last_attempt
_.last_attempt
sampled_at
sync_run_id
approved_at
_.approved_at

# Alembic reads these module attributes of every migration.
revision
down_revision
branch_labels
depends_on
downgrade

# openpyxl: assigning these attributes styles the workbook.
_.font
_.freeze_panes
_.height

# http.server and socketserver read these class attributes and call these handlers (lab/server.py).
daemon_threads
allow_reuse_address
request_queue_size
protocol_version
server_version
disable_nagle_algorithm
_.log_message
_.close_connection
do_DELETE
do_GET
do_HEAD
do_PATCH
do_POST
do_PUT

# Ansible loads filter plugins and module documentation by name.
FilterModule
DOCUMENTATION
RETURN

# Adapters are named as "module:Class" strings in providers/registry.py.
KubernetesAdapter
VSphereAdapter

# The kubernetes client's Configuration reads these attributes.
_.verify_ssl
_.ssl_ca_cert
_.api_key
_.api_key_prefix
_.retries

# Record and estate fields: serialized as a whole (dataclasses.asdict, to_dict, the vSphere simulator's JSON).
size_bytes
attached_to
thin
guest_full_name
guest_hostname
tls_available
_.tls_available

# Run as `python -c "from inventory.collector import worker_main; ..."` by the collector.
worker_main

# The DER tag table names every universal tag the parser knows, used or not.
SET
NULL

# Public functions of the security, inventory and console libraries that the tests exercise
# directly (SM4 modes and HMAC against the GB/T vectors, certificate helpers, check mapping).
sm3_hmac
sm4_ecb_block
sm4_cbc_encrypt
sm4_cbc_decrypt
sm4_ctr
sm4_gcm_encrypt
sm4_gcm_decrypt
_.public_bytes_pem
pair_dual
verify_paths
unknown_checks
unmapped_checks
BytesSource
columns_for
suggest
free_port
_.by_role
_.gap
_.methods

# Drill clusters: the lazy table names PatroniOps by string (playbooks/drill/cluster.py); rewind
# is part of the ClusterOps interface each manager implements; MemberStatus.receiver and the
# API page's next_page_token are fields serialized to JSON rather than read in Python.
PatroniOps
rewind
receiver
next_page_token

# The lab's Prometheus takes backfilled history; the lab tests call it (tests/lab).
backfill
