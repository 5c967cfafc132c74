"""metrics: KPI definitions, measurement ingestion, rollups, queries."""
