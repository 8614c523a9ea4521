"""The database schema as numbered migrations, applied once each by
:func:`streams.persistence.db.migrate`.

Never edit a released migration; add the next one. Tables (after every migration):

* ``events``          validated, located inputs; one row per (epoch, kind, source, event_id), with
                      the ``riskmon.located`` position (``log_partition``, ``log_offset``) it was
                      first read at, which replay uses to apply events in the worker's order
* ``score_updates``   full :class:`~streams.contract.ScoreUpdate` messages per series (``live``, or
                      a replay's name), for time travel; kept for the raw retention period
* ``score_points``    the narrow series behind history charts: (series, district, domain, as_of)
                      -> value, grade, and for downsampled rows the step's min/max and count
* ``alerts``          each alert's latest state; ``alert_changes`` every message of its lifecycle
* ``dead_letters``    rejected inputs with their original bytes
* ``stream_epochs``   lives of the located-events log: a broker that lost its log (the embedded
                      demo broker keeps nothing across restarts) starts a new epoch, and offsets
                      are only compared within one
* ``scorer_checkpoints`` the worker's per-partition index state with the next offset to read;
                      ``checkpoint_archive`` the ones replaced after a model or district change
* ``users``, ``sessions``, ``audit`` accounts with their role and argon2id password hash, browser
                      sessions by the SHA-256 of their token, and who did what when (only
                      :mod:`streams.persistence.accounts` touches them); a user's ``agency``
* ``field_reports``, ``field_photos`` inspectors' reports from the field page (one per user and
                      client-made report id, with the fact published for it) and their photos
                      (only :mod:`streams.persistence.field` touches them)
* ``complaints``      civil complaints, one row per (source, id) in its newest status (by
                      ``updated_at``), with district and H3 cell
                      (:mod:`streams.persistence.complaints`)
* ``cap_out``         public warnings (CAP 1.2) operators approved: each alert's chain, the XML as
                      published (:mod:`streams.persistence.capout`)
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
    CREATE TABLE events (
        kind        text        NOT NULL,
        source      text        NOT NULL,
        event_id    text        NOT NULL,
        type        text        NOT NULL,
        district    text        NOT NULL,
        h3          text,
        occurred_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL,
        origin      text        NOT NULL,
        payload     jsonb       NOT NULL,
        PRIMARY KEY (kind, source, event_id)
    );
    CREATE INDEX events_district_time ON events (district, occurred_at);
    CREATE TABLE score_updates (
        district      text             NOT NULL,
        seq           bigint           NOT NULL,
        as_of         timestamptz      NOT NULL,
        reason        text             NOT NULL,
        composite     double precision NOT NULL,
        grade         smallint         NOT NULL,
        safety        double precision NOT NULL,
        model_version text             NOT NULL,
        payload       jsonb            NOT NULL,
        PRIMARY KEY (district, seq)
    );
    CREATE INDEX score_updates_time ON score_updates (as_of);
    CREATE TABLE dead_letters (
        topic     text        NOT NULL,
        partition integer     NOT NULL,
        "offset"  bigint      NOT NULL,
        error     text        NOT NULL,
        reason    text        NOT NULL,
        failed_at timestamptz NOT NULL,
        key       bytea,
        value     bytea       NOT NULL,
        PRIMARY KEY (topic, partition, "offset")
    );
    CREATE TABLE scorer_checkpoints (
        app_id      text        NOT NULL,
        topic       text        NOT NULL,
        partition   integer     NOT NULL,
        next_offset bigint      NOT NULL,
        state       jsonb       NOT NULL,
        saved_at    timestamptz NOT NULL,
        PRIMARY KEY (app_id, topic, partition)
    );
    """,
    ),
    (
        2,
        """
    CREATE TABLE stream_epochs (
        epoch      integer     PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        reason     text        NOT NULL
    );
    INSERT INTO stream_epochs (epoch, reason) VALUES (1, 'first');

    ALTER TABLE events ADD COLUMN epoch integer NOT NULL DEFAULT 1,
                       ADD COLUMN log_partition integer,
                       ADD COLUMN log_offset bigint;
    ALTER TABLE events DROP CONSTRAINT events_pkey,
                       ADD PRIMARY KEY (epoch, kind, source, event_id);
    CREATE INDEX events_log ON events (epoch, log_partition, district, log_offset);
    CREATE INDEX events_received ON events (received_at);

    ALTER TABLE score_updates ADD COLUMN series text NOT NULL DEFAULT 'live',
                              ADD COLUMN epoch integer,
                              ADD COLUMN basis_partition integer,
                              ADD COLUMN basis_offset bigint;
    ALTER TABLE score_updates DROP CONSTRAINT score_updates_pkey,
                              ADD PRIMARY KEY (series, district, seq);
    DROP INDEX score_updates_time;
    CREATE INDEX score_updates_at ON score_updates (series, district, as_of);
    CREATE INDEX score_updates_time ON score_updates (as_of);

    CREATE TABLE score_points (
        series        text             NOT NULL,
        district      text             NOT NULL,
        domain        text             NOT NULL,
        as_of         timestamptz      NOT NULL,
        seq           bigint           NOT NULL,
        value         double precision NOT NULL,
        grade         smallint,
        lo            double precision NOT NULL,
        hi            double precision NOT NULL,
        n             integer          NOT NULL DEFAULT 1,
        model_version text             NOT NULL,
        PRIMARY KEY (series, district, domain, as_of, seq)
    );
    CREATE INDEX score_points_time ON score_points (as_of);

    CREATE TABLE alerts (
        id        text        PRIMARY KEY,
        seq       bigint      NOT NULL,
        district  text        NOT NULL,
        domain    text        NOT NULL,
        rule      text        NOT NULL,
        state     text        NOT NULL,
        severity  text        NOT NULL,
        opened_at timestamptz NOT NULL,
        as_of     timestamptz NOT NULL,
        cluster   text,
        payload   jsonb       NOT NULL
    );
    CREATE INDEX alerts_opened ON alerts (opened_at);
    CREATE INDEX alerts_state ON alerts (state, opened_at);
    CREATE TABLE alert_changes (
        id      text        NOT NULL,
        seq     bigint      NOT NULL,
        change  text        NOT NULL,
        state   text        NOT NULL,
        as_of   timestamptz NOT NULL,
        payload jsonb       NOT NULL,
        PRIMARY KEY (id, seq)
    );

    ALTER TABLE dead_letters ADD COLUMN epoch integer NOT NULL DEFAULT 1;
    ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_pkey,
                             ADD PRIMARY KEY (epoch, topic, partition, "offset");
    CREATE INDEX dead_letters_time ON dead_letters (failed_at);
    """,
    ),
    (
        3,
        """
    -- Keyset pages of the history API: each list route's order is a unique key, and an index
    -- serves it with and without the district filter.
    DROP INDEX events_district_time;
    CREATE INDEX events_district_time
        ON events (district, occurred_at, epoch, kind, source, event_id);
    CREATE INDEX events_time ON events (occurred_at, epoch, kind, source, event_id);
    DROP INDEX alerts_opened;
    CREATE INDEX alerts_opened ON alerts (opened_at, id);
    DROP INDEX dead_letters_time;
    CREATE INDEX dead_letters_time ON dead_letters (failed_at, epoch, topic, partition, "offset");
    """,
    ),
    (
        4,
        """
    -- A dead letter of a very large input keeps its first bytes and the original size.
    ALTER TABLE dead_letters ADD COLUMN value_size integer;
    """,
    ),
    (
        5,
        """
    -- Access control: accounts, browser sessions (only the SHA-256 of a token), the audit trail.
    CREATE TABLE users (
        id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name          text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'),
        role          text        NOT NULL
                      CHECK (role IN ('viewer', 'operator', 'analyst', 'admin')),
        password_hash text,
        disabled      boolean     NOT NULL DEFAULT false,
        created_at    timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL
    );
    CREATE TABLE sessions (
        token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
        user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL,
        last_seen  timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        address    text
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE INDEX sessions_expires ON sessions (expires_at);
    CREATE TABLE audit (
        id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at      timestamptz NOT NULL,
        actor   text        NOT NULL,
        action  text        NOT NULL,
        target  text,
        address text,
        detail  jsonb       NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_at ON audit (at, id);
    """,
    ),
    (
        6,
        """
    -- A checkpoint replaced by one of another model or other districts is kept here, never lost.
    CREATE TABLE checkpoint_archive (
        app_id      text        NOT NULL,
        topic       text        NOT NULL,
        partition   integer     NOT NULL,
        next_offset bigint      NOT NULL,
        state       jsonb       NOT NULL,
        saved_at    timestamptz NOT NULL,
        archived_at timestamptz NOT NULL
    );
    CREATE INDEX checkpoint_archive_key ON checkpoint_archive (app_id, topic, partition);
    """,
    ),
    (
        7,
        """
    -- Field inspection (docs/field.md): the inspector role, a user's agency (the source of the
    -- facts they report), and the reports with their photos (kept here, not in files).
    ALTER TABLE users DROP CONSTRAINT users_role_check,
        ADD CONSTRAINT users_role_check
            CHECK (role IN ('viewer', 'inspector', 'operator', 'analyst', 'admin'));
    ALTER TABLE users ADD COLUMN agency text
        CHECK (agency IS NULL OR char_length(agency) BETWEEN 1 AND 128);
    CREATE TABLE field_reports (
        id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_name    text        NOT NULL REFERENCES users (name),
        report_id    text        NOT NULL,
        request_hash bytea       NOT NULL,
        source       text        NOT NULL,
        fact_id      text        NOT NULL,
        kind         text        NOT NULL CHECK (kind IN ('inspection', 'facility')),
        subject      text        NOT NULL,
        district     text        NOT NULL,
        fact         text        NOT NULL,
        note         text,
        status       text        NOT NULL CHECK (status IN ('received', 'published')),
        created_at   timestamptz NOT NULL,
        published_at timestamptz,
        UNIQUE (user_name, report_id)
    );
    CREATE INDEX field_reports_time ON field_reports (created_at, id);
    CREATE TABLE field_photos (
        report        bigint      NOT NULL REFERENCES field_reports (id) ON DELETE CASCADE,
        n             smallint    NOT NULL,
        content_type  text        NOT NULL
                      CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
        size          integer     NOT NULL CHECK (size = octet_length(data)),
        width         integer     NOT NULL,
        height        integer     NOT NULL,
        sha256        bytea       NOT NULL,
        location_kept boolean     NOT NULL,
        data          bytea       NOT NULL,
        PRIMARY KEY (report, n)
    );
    """,
    ),
    (
        8,
        """
    -- Civil complaints (docs/complaints.md): one row per (source, id) in its newest status.
    CREATE TABLE complaints (
        source      text        NOT NULL,
        id          text        NOT NULL,
        category    text        NOT NULL,
        status      text        NOT NULL
                    CHECK (status IN ('received', 'in_progress', 'fixed', 'closed', 'rejected')),
        district    text        NOT NULL,
        h3          text,
        facility_id text,
        received_at timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL,
        stored_at   timestamptz NOT NULL,
        payload     jsonb       NOT NULL,
        PRIMARY KEY (source, id)
    );
    CREATE INDEX complaints_received ON complaints (received_at);
    """,
    ),
    (
        9,
        """
    -- CAP out (docs/agencies.md): public warnings operators approved, each alert's chain.
    CREATE TABLE cap_out (
        identifier  text        PRIMARY KEY,
        alert_id    text        NOT NULL,
        sender      text        NOT NULL,
        msg_type    text        NOT NULL CHECK (msg_type IN ('Alert', 'Update')),
        all_clear   boolean     NOT NULL,
        sent        timestamptz NOT NULL,
        xml         bytea       NOT NULL,
        approved_by text        NOT NULL,
        approved_at timestamptz NOT NULL,
        published   boolean     NOT NULL DEFAULT false
    );
    CREATE INDEX cap_out_alert ON cap_out (alert_id, sent);
    """,
    ),
)
