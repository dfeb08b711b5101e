namespace Luffy.Trainer.HuggingFace;

/// <summary>One turn of a conversation: role ("system", "user" or "assistant") and text.</summary>
public sealed record ChatMessage(string Role, string Content);
