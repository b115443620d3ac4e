package pgtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Creating a schema and running the migrations in it, then dropping it, is
// DDL on the system catalogs, and it was most of the CPU that the PostgreSQL
// tests cost (the server's, under a test per schema): so a package whose
// TestMain runs Main keeps the schemas that Open made and gives each to the
// next Open, emptied. A schema goes back only as it came: its definition
// (tables, columns, defaults, constraints, indexes, triggers, functions,
// types, sequences and the migrations applied) must be the one it had when
// migrated, or it is dropped; then every table is emptied and every sequence
// set back to where the migrations left it, so that the next test sees what a
// new schema would show it.

var pool struct {
	sync.Mutex
	on      bool
	idle    []*pooledSchema
	schemas []string // every schema the pool made, dropped by Main
	base    string
}

type pooledSchema struct {
	name        string
	definition  string // the fingerprint of its definition, as migrated
	emptyingSQL string // what empties it again
}

// Main runs a package's tests (m.Run) with a pool of migrated schemas for
// Open, drops the pool's schemas, and returns m.Run's code:
// os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	pool.Lock()
	pool.on = true
	pool.Unlock()
	code := m.Run()
	pool.Lock()
	defer pool.Unlock()
	pool.on = false
	for _, schema := range pool.schemas {
		dropSchema(pool.base, schema)
	}
	pool.schemas, pool.idle = nil, nil
	return code
}

// pooledURL returns the URL of an empty migrated schema from the pool, given
// back when the test ends; false when the pool is not running.
func pooledURL(t testing.TB) (string, bool) {
	t.Helper()
	pool.Lock()
	on := pool.on
	pool.Unlock()
	if !on {
		return "", false
	}
	base := baseURL(t)
	s, err := takeSchema(base)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return "", false // no source tree to migrate from: Open's own way
	}
	// Registered before the store's Close, so it runs after it.
	t.Cleanup(func() { giveBack(base, s) })
	u, err := schemaURL(base, s.name)
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}

func takeSchema(base string) (*pooledSchema, error) {
	pool.Lock()
	if n := len(pool.idle); n > 0 {
		s := pool.idle[n-1]
		pool.idle = pool.idle[:n-1]
		pool.Unlock()
		return s, nil
	}
	pool.Unlock()
	name, err := createSchema(base)
	if err != nil {
		return nil, err
	}
	pool.Lock()
	pool.base = base
	pool.schemas = append(pool.schemas, name)
	pool.Unlock()
	u, err := schemaURL(base, name)
	if err != nil {
		return nil, err
	}
	if migrated, err := migrate(u); err != nil || !migrated {
		return nil, err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	s := &pooledSchema{name: name}
	if err := conn.QueryRow(ctx, definitionSQL).Scan(&s.definition); err != nil {
		return nil, fmt.Errorf("pgtest: the definition of schema %s: %w", name, err)
	}
	if s.emptyingSQL, err = emptyingSQL(ctx, conn); err != nil {
		return nil, fmt.Errorf("pgtest: schema %s: %w", name, err)
	}
	return s, nil
}

// giveBack empties s and returns it to the pool, or drops it if its
// definition changed or it cannot be emptied.
func giveBack(base string, s *pooledSchema) {
	if err := empty(base, s); err != nil {
		dropSchema(base, s.name)
		pool.Lock()
		defer pool.Unlock()
		for i, name := range pool.schemas {
			if name == s.name {
				pool.schemas = append(pool.schemas[:i], pool.schemas[i+1:]...)
				break
			}
		}
		return
	}
	pool.Lock()
	defer pool.Unlock()
	pool.idle = append(pool.idle, s)
}

func empty(base string, s *pooledSchema) error {
	u, err := schemaURL(base, s.name)
	if err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var definition string
	if err := conn.QueryRow(ctx, definitionSQL).Scan(&definition); err != nil {
		return err
	}
	if definition != s.definition {
		return fmt.Errorf("pgtest: schema %s was changed", s.name)
	}
	_, err = conn.Exec(ctx, s.emptyingSQL)
	return err
}

// emptyingSQL returns the statements that empty every table of the current
// schema but goose's (DELETE, as the replica role that fires no trigger:
// the ledger's refuses deletes) and set every sequence back to where it is
// now, in one transaction. DELETE, not TRUNCATE: TRUNCATE gives each table
// and index a new file, 40 times what DELETE costs on these few rows.
func emptyingSQL(ctx context.Context, conn *pgx.Conn) (string, error) {
	column := func(query string) ([]string, error) {
		rows, err := conn.Query(ctx, query)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	tables, err := column(`SELECT quote_ident(relname) FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p') AND relname <> 'goose_db_version'
		ORDER BY relname`)
	if err != nil {
		return "", err
	}
	sequences, err := column(`SELECT format('SELECT setval(%L, %s, %s)', quote_ident(sequencename),
			COALESCE(last_value, start_value), (last_value IS NOT NULL)::text)
		FROM pg_sequences WHERE schemaname = current_schema() ORDER BY sequencename`)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("BEGIN; SET LOCAL session_replication_role = replica; SET LOCAL lock_timeout = '10s';\n")
	for _, table := range tables {
		b.WriteString("DELETE FROM " + table + ";\n")
	}
	for _, set := range sequences {
		b.WriteString(set + ";\n")
	}
	b.WriteString("COMMIT;")
	return b.String(), nil
}

// definitionSQL fingerprints the current schema's definition: its relations,
// columns with their types and defaults, constraints, indexes, triggers (and
// whether they are enabled), functions, types, sequences and the migrations
// goose applied. It finds them from what depends on the schema, then by oid,
// through the catalogs' indexes: a test database where schemas came and went
// has catalogs full of dead rows (autovacuum may be off), which a scan by
// namespace would read through every time.
const definitionSQL = `WITH objects AS MATERIALIZED (
	SELECT classid, objid FROM pg_depend
	WHERE refclassid = 'pg_namespace'::regclass AND refobjid = current_schema()::regnamespace AND refobjsubid = 0
), relations AS MATERIALIZED (
	SELECT array_agg(objid) AS oids FROM objects WHERE classid = 'pg_class'::regclass
)
SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
	SELECT format('relation %s %s %s %s %s', c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relreplident)
		FROM pg_class c, relations r WHERE c.oid = ANY (r.oids)
	UNION ALL
	SELECT format('column %s.%s %s %s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
			a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid))
		FROM pg_attribute a JOIN relations r ON a.attrelid = ANY (r.oids)
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT format('constraint %s %s %s %s', con.conrelid::regclass, con.conname, pg_get_constraintdef(con.oid), con.convalidated)
		FROM pg_constraint con, relations r WHERE con.conrelid = ANY (r.oids)
	UNION ALL
	SELECT format('index %s %s', pg_get_indexdef(i.indexrelid), i.indisvalid) FROM pg_index i, relations r WHERE i.indrelid = ANY (r.oids)
	UNION ALL
	SELECT format('trigger %s %s', pg_get_triggerdef(tg.oid), tg.tgenabled) FROM pg_trigger tg, relations r WHERE tg.tgrelid = ANY (r.oids)
	UNION ALL
	SELECT format('rule %s', pg_get_ruledef(ru.oid)) FROM pg_rewrite ru, relations r WHERE ru.ev_class = ANY (r.oids)
	UNION ALL
	SELECT format('policy %s %s', pol.polname, pol.polrelid::regclass) FROM pg_policy pol, relations r WHERE pol.polrelid = ANY (r.oids)
	UNION ALL
	SELECT format('sequence %s %s %s', s.seqrelid::regclass, s.seqstart, s.seqincrement) FROM pg_sequence s, relations r WHERE s.seqrelid = ANY (r.oids)
	UNION ALL
	SELECT format('function %s %s', p.oid::regprocedure, md5(p.prosrc)) FROM pg_proc p JOIN objects o ON o.objid = p.oid AND o.classid = 'pg_proc'::regclass
	UNION ALL
	SELECT format('type %s %s', ty.typname, ty.typtype) FROM pg_type ty JOIN objects o ON o.objid = ty.oid AND o.classid = 'pg_type'::regclass
	UNION ALL
	SELECT format('object %s %s', o.classid::regclass, o.objid) FROM objects o
		WHERE o.classid NOT IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass)
	UNION ALL
	SELECT format('goose %s %s %s', count(*), max(version_id), bool_and(is_applied)) FROM goose_db_version
) definition(x)`
