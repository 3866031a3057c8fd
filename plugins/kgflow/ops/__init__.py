"""Operations: batch metrics pushed from the DAGs, backups and restores."""
