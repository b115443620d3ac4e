package stripestub

import (
	"net/http"
	"slices"
)

// Customer is Stripe's customer object, the fields the stub keeps.
type Customer struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Created  int64             `json:"created"`
	Email    NullString        `json:"email"`
	Livemode bool              `json:"livemode"`
	Metadata map[string]string `json:"metadata"`
	// Deleted customers are answered as Stripe answers them: id, object
	// and deleted only.
	Deleted bool `json:"-"`
	seq     int
}

func (c *Customer) stripeID() string { return c.ID }
func (c *Customer) createdAt() int64 { return c.Created }
func (c *Customer) order() int       { return c.seq }

func (c *Customer) copy() Customer {
	out := *c
	out.Metadata = cloneMap(c.Metadata)
	return out
}

// render is the customer as Stripe shows it now.
func (c *Customer) render() any {
	if c.Deleted {
		return deletedObject(c.ID, "customer")
	}
	return c.copy()
}

func deletedObject(id, object string) map[string]any {
	return map[string]any{"id": id, "object": object, "deleted": true}
}

func (s *Stub) routeCustomers() {
	s.route("POST /v1/customers", s.handleCreateCustomer)
	s.route("GET /v1/customers", s.handleListCustomers)
	s.route("GET /v1/customers/{id}", s.handleRetrieveCustomer)
	s.route("DELETE /v1/customers/{id}", s.handleDeleteCustomer)
}

func (s *Stub) handleCreateCustomer(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &Customer{ID: newID("cus_"), Object: "customer", Created: s.unixNow(), Email: NullString(req.form.Get("email")),
		Metadata: mapParam(req.form, "metadata"), seq: s.nextSeq()}
	s.customers[c.ID] = c
	s.recordEvent("customer.created", c.copy())
	return jsonResponse(http.StatusOK, c.copy())
}

func (s *Stub) handleRetrieveCustomer(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[req.PathValue("id")]
	if !ok {
		return notFound("customer", req.PathValue("id"))
	}
	return jsonResponse(http.StatusOK, c.render())
}

// handleListCustomers lists live customers, by email when asked, as
// Stripe's list leaves deleted customers out.
func (s *Stub) handleListCustomers(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	email := req.form.Get("email")
	var items []*Customer
	for _, c := range s.customers {
		if !c.Deleted && (email == "" || string(c.Email) == email) {
			items = append(items, c)
		}
	}
	return listPage(req.form, "/v1/customers", items, func(c *Customer) any { return c.copy() })
}

func (s *Stub) handleDeleteCustomer(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.PathValue("id")
	c, ok := s.customers[id]
	if !ok || c.Deleted {
		return notFound("customer", id)
	}
	s.deleteCustomer(c)
	return jsonResponse(http.StatusOK, deletedObject(id, "customer"))
}

// deleteCustomer deletes a customer and detaches its cards; callers hold s.mu.
func (s *Stub) deleteCustomer(c *Customer) {
	s.recordEvent("customer.deleted", c.copy())
	c.Deleted = true
	for pm, owner := range s.attachedTo {
		if owner == c.ID {
			s.attachedTo[pm] = ""
		}
	}
}

// DeleteCustomer deletes a customer as the Dashboard would.
func (s *Stub) DeleteCustomer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		panic("stripestub: no customer " + id)
	}
	s.deleteCustomer(c)
}

// CreateCustomer makes a customer without a request and returns its id.
func (s *Stub) CreateCustomer(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &Customer{ID: newID("cus_"), Object: "customer", Created: s.unixNow(), Email: NullString(email),
		Metadata: map[string]string{}, seq: s.nextSeq()}
	s.customers[c.ID] = c
	s.recordEvent("customer.created", c.copy())
	return c.ID
}

// Customers returns a copy of every customer, deleted ones too, oldest first.
func (s *Stub) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Customer, 0, len(s.customers))
	for _, c := range s.customers {
		out = append(out, c.copy())
	}
	slices.SortFunc(out, func(a, b Customer) int { return a.seq - b.seq })
	return out
}
