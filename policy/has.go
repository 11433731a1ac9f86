package policy

// HasExecutor reports whether an executor with this ID can run: some
// enabled policy that can apply (it has conditions, and they share an
// event) lists a profile holding the executor, and the executor reacts to
// at least one of the policy's events. A server uses it to advertise what
// its policies do, such as client_id_metadata_document_supported when the
// "client-id-metadata-document" executor is configured. A nil *Engine has
// no executors.
func (e *Engine) HasExecutor(id string) bool {
	if e == nil {
		return false
	}
	for _, p := range e.policies {
		if p.disabled || p.events == 0 {
			continue
		}
		for _, prof := range p.profiles {
			for i := range prof.execs {
				if x := &prof.execs[i]; x.id == id && x.events&p.events != 0 {
					return true
				}
			}
		}
	}
	return false
}
