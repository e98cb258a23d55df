// A book's members: invite by e-mail, change a role, remove someone (or leave). Controls appear
// only where the server would allow them (lib/admin.ts mirrors engine/rules.py).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { LogOut, Trash2, UserPlus } from "lucide-react";
import { useId, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { addMember, adminKeys, changeRole, listMembers, removeMember, type Member, type Role } from "../api/admin";
import { keys } from "../api/endpoints";
import { describe } from "../api/http";
import { Button, Field, IconButton, QueryView } from "../components/ui";
import { manages, mayRemove, removeLabel, roleChoices } from "../lib/admin";

export function MembersSection({ book, myRole, me }: { book: string; myRole: string; me: string }) {
  const queryClient = useQueryClient();
  const members = useQuery({ queryKey: adminKeys.members(book), queryFn: () => listMembers(book) });
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: adminKeys.members(book) });
    void queryClient.invalidateQueries({ queryKey: keys.book(book) });
    void queryClient.invalidateQueries({ queryKey: keys.books });
  };
  return (
    <section className="panel" aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      {manages(myRole) && <Invite book={book} onAdded={refresh} />}
      <QueryView
        query={members}
        loading="Loading members…"
        isEmpty={(list) => list.length === 0}
        empty="This book has no members."
      >
        {(list) => (
          <ul className="list" aria-label="Members">
            {list.map((member) => (
              <MemberRow
                key={member.user}
                book={book}
                member={member}
                myRole={myRole}
                me={me}
                onChanged={refresh}
              />
            ))}
          </ul>
        )}
      </QueryView>
    </section>
  );
}

function Invite({ book, onAdded }: { book: string; onAdded: () => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const roleId = useId();
  const add = useMutation({
    mutationFn: () => addMember(book, email.trim(), role),
    onSuccess: () => {
      setEmail("");
      onAdded();
    },
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (email.trim()) add.mutate();
  }
  return (
    <form className="inline-form" onSubmit={onSubmit} aria-label="Invite someone">
      <Field
        label="Invite by e-mail"
        type="email"
        placeholder="name@example.org"
        autoComplete="off"
        value={email}
        maxLength={254}
        onChange={(e) => setEmail(e.target.value)}
      />
      <div className="field field-narrow">
        <label htmlFor={roleId}>Role</label>
        <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          <option value="member">member</option>
          <option value="admin">admin</option>
        </select>
      </div>
      <Button type="submit" variant="primary" busy={add.isPending} disabled={!email.trim()}>
        <UserPlus size={16} aria-hidden /> Invite
      </Button>
      {add.isError && (
        <p className="error-text" role="alert">
          {describe(add.error)}
        </p>
      )}
      {add.isSuccess && (
        <p className="muted small" role="status">
          {add.data.invited
            ? `${add.data.email} has no account yet: the invitation waits for them to sign up with that address. This server sends no e-mail, so tell them yourself.`
            : `${add.data.email} is now a ${add.data.role} of this book.`}
        </p>
      )}
    </form>
  );
}

function MemberRow({
  book,
  member,
  myRole,
  me,
  onChanged,
}: {
  book: string;
  member: Member;
  myRole: string;
  me: string;
  onChanged: () => void;
}) {
  const navigate = useNavigate();
  const roleId = useId();
  const choices = roleChoices(myRole, me, member);
  const setRole = useMutation({
    mutationFn: (role: Role) => changeRole(book, member.user, role),
    onSuccess: onChanged,
  });
  const remove = useMutation({
    mutationFn: () => removeMember(book, member.user),
    onSuccess: () => {
      if (member.user === me) navigate("/books");
      else onChanged();
    },
  });
  const failed = setRole.error ?? remove.error;
  const label = removeLabel(me, member);
  return (
    <li className="row">
      <div className="row-main">
        <span className="row-title">
          {member.email}
          {member.user === me && <span className="badge">you</span>}
          {member.pending && <span className="badge status-pending">invited</span>}
        </span>
        {failed && (
          <p className="error-text" role="alert">
            {describe(failed)}
          </p>
        )}
      </div>
      {choices.length > 0 ? (
        <>
          <label htmlFor={roleId} className="sr-only">
            Role of {member.email}
          </label>
          <select
            id={roleId}
            value={member.role}
            disabled={setRole.isPending}
            onChange={(e) => {
              const role = e.target.value as Role;
              const sure =
                role !== "owner" ||
                window.confirm(
                  `Make ${member.email} the owner? You become an admin, and only they can give ownership back.`,
                );
              if (sure) setRole.mutate(role);
            }}
          >
            {[member.role, ...choices.filter((c) => c !== member.role)].map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </>
      ) : (
        <span className="muted">{member.role}</span>
      )}
      {mayRemove(myRole, me, member) && (
        <IconButton
          label={label}
          disabled={remove.isPending}
          onClick={() => {
            const question =
              member.user === me
                ? "Leave this book? Your chapters go to its owner."
                : member.pending
                  ? `Withdraw the invitation to ${member.email}?`
                  : `Remove ${member.email} from this book? Their chapters go to the owner.`;
            if (window.confirm(question)) remove.mutate();
          }}
        >
          {member.user === me ? <LogOut size={16} aria-hidden /> : <Trash2 size={16} aria-hidden />}
        </IconButton>
      )}
    </li>
  );
}
