// A one-field form that makes something (a book, a chapter) and says why when it cannot.
import { useMutation } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { useState, type FormEvent } from "react";
import { describe } from "../api/http";
import { Button, Field } from "./ui";

export function CreateForm({
  label,
  action,
  create,
  onCreated,
}: {
  label: string;
  action: string;
  create: (value: string) => Promise<unknown>;
  onCreated: () => void;
}) {
  const [value, setValue] = useState("");
  const mutation = useMutation({
    mutationFn: () => create(value.trim()),
    onSuccess: () => {
      setValue("");
      onCreated();
    },
  });
  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (value.trim()) mutation.mutate();
  }
  return (
    <form className="inline-form" onSubmit={onSubmit}>
      <Field label={label} value={value} maxLength={200} onChange={(e) => setValue(e.target.value)} />
      <Button type="submit" variant="primary" busy={mutation.isPending} disabled={!value.trim()}>
        <Plus size={16} aria-hidden /> {action}
      </Button>
      {mutation.isError && (
        <p className="error-text" role="alert">
          {describe(mutation.error)}
        </p>
      )}
    </form>
  );
}
