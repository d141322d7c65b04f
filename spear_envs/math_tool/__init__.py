"""spear/MathTool-v0: competition math with a sandboxed Python code tool."""
