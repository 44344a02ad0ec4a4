terraform {
  required_providers {
    cephbackup = {
      source = "cephbackup/cephbackup"
    }
  }
}

# The cluster where the volumes live, and a second cluster for the backups.
provider "cephbackup" {
  cluster = {
    config_file = "/etc/ceph/ceph.conf"
    user        = "backup-src"
    keyring     = "/etc/ceph/ceph.client.backup-src.keyring"
    timeout     = "30s"
  }
  backup_cluster = {
    mon_host = "10.0.1.1,10.0.1.2,10.0.1.3"
    user     = "backup-dst"
    key      = var.backup_cluster_key
  }
}

variable "backup_cluster_key" {
  type      = string
  sensitive = true
}
